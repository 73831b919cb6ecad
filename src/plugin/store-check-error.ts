/** A store failed its check (`tusport serve` exits 2 with this message). */
export class StoreCheckError extends Error {
  override name = 'StoreCheckError';
}

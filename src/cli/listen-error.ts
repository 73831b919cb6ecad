/** `tusport serve` could not listen (address in use, not permitted): exit 1 with the message. */
export class ListenError extends Error {}

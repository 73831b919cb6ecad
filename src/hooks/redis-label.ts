/**
 * scheme://host:port/db of a Redis URL: what logs and messages may say about it (never its
 * credentials). Its own module so that naming a Redis outbox does not load ioredis.
 */
export function redisLabel(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return 'redis';
  }
}

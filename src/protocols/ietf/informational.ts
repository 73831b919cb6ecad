import type { FastifyReply } from 'fastify';

const SAFE_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * Send an informational (1xx) response ahead of the final one. Node has an API only for 100, 102
 * and 103, so the status line and headers are written to the socket before the response head, as
 * Go's net/http (and so tusd) does. Only on HTTP/1.1 (HTTP/1.0 clients must not receive 1xx,
 * RFC 9110 15.2), and only while nothing of the final response has gone out. Returns whether it
 * was sent.
 */
export function sendInformational(reply: FastifyReply, status: number, reason: string, headers: Record<string, string>): boolean {
  const response = reply.raw;
  const socket = response.socket;
  if (reply.request.raw.httpVersion !== '1.1' || response.headersSent || !socket || socket.destroyed || !socket.writable) return false;
  const lines = Object.entries(headers).filter(([name, value]) => /^[A-Za-z0-9-]+$/.test(name) && SAFE_VALUE.test(value));
  socket.write(`HTTP/1.1 ${status} ${reason}\r\n${lines.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`);
  return true;
}

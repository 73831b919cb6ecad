import type { TLSSocket } from 'node:tls';
import proxyAddr from '@fastify/proxy-addr';
import type { FastifyRequest } from 'fastify';
import { Errors } from '../errors.js';
import { forwardedAddress, type ForwardedElement, parseForwarded } from './forwarded.js';

const VALID_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

export interface OriginOptions {
  /** `server.publicUrl` (already checked and without a trailing slash). */
  publicUrl?: string | undefined;
  /** `server.trustProxy`: addresses/CIDRs whose forwarded headers are believed. */
  trustProxy: string[];
}

/** Where a request came from and which base URL the URLs we hand back to it start with. */
export interface RequestOrigin {
  /**
   * `proto://host`, or `server.publicUrl` (which may carry a path prefix), for every URL tusport
   * hands out (Location). 400 for a Host (or a trusted proxy's forwarded host/proto) that could not
   * be part of a URL.
   */
  baseUrl(request: FastifyRequest): string;
  /** The client's address: the socket's, or what trusted proxies say (X-Forwarded-For, else Forwarded `for`). */
  clientAddress(request: FastifyRequest): string;
}

/**
 * Build the origin rules for a server. With `publicUrl` set, no header of the request shapes a
 * URL. Without it, Host does, or for a request from a trusted proxy X-Forwarded-Host/-Proto, else
 * RFC 7239 `Forwarded`. The X-Forwarded-* headers win because common proxies (nginx as
 * configured in nginx/tusport.conf, load balancers) set those and pass a client's own
 * `Forwarded` through untouched. Of several values the first (client-most) counts: it is what
 * the outermost proxy saw, and a proxy that sets the header replaces what the client sent.
 */
export function createRequestOrigin(options: OriginOptions): RequestOrigin {
  const trust = options.trustProxy.length > 0 ? proxyAddr.compile(options.trustProxy) : undefined;
  const fromTrustedProxy = (request: FastifyRequest) => {
    const peer = request.raw.socket?.remoteAddress;
    return trust !== undefined && peer !== undefined && trust(peer, 0);
  };
  return {
    baseUrl(request) {
      if (options.publicUrl !== undefined) return options.publicUrl;
      const trusted = fromTrustedProxy(request);
      const forwardedHost = trusted ? (firstValue(request.headers['x-forwarded-host']) ?? forwardedElements(request)?.[0]?.host) : undefined;
      const host = forwardedHost ?? request.headers.host ?? '';
      if (!VALID_HOST.test(host)) throw new Errors.INVALID_HEADER('Host', JSON.stringify(host.slice(0, 64)));
      const xForwardedProto = trusted ? firstValue(request.headers['x-forwarded-proto']) : undefined;
      const forwardedProto = xForwardedProto ?? (trusted ? forwardedElements(request)?.[0]?.proto : undefined);
      const proto = (forwardedProto ?? socketProtocol(request)).toLowerCase();
      // Anything but http(s) can only come from a trusted proxy.
      if (proto !== 'http' && proto !== 'https') {
        throw new Errors.INVALID_HEADER(xForwardedProto !== undefined ? 'X-Forwarded-Proto' : 'Forwarded', JSON.stringify(proto.slice(0, 64)));
      }
      return `${proto}://${host}`;
    },
    clientAddress(request) {
      // Fastify's request.ip walks X-Forwarded-For the same way, through the same trust list.
      if (trust === undefined || !fromTrustedProxy(request) || request.headers['x-forwarded-for'] !== undefined) return request.ip;
      const header = request.headers.forwarded;
      // Never throws: this also names the client in log lines, even of requests refused for a bad header.
      const elements = header === undefined ? undefined : parseForwarded(header);
      let address = request.ip;
      if (!elements) return address;
      for (let hop = elements.length - 1; hop >= 0; hop -= 1) {
        if (!trust(address, elements.length - 1 - hop)) break;
        const previous = forwardedAddress(elements[hop]?.for ?? '');
        if (previous === undefined) break;
        address = previous;
      }
      return address;
    },
  };
}

/** A trusted proxy's `Forwarded` elements, client-most first; undefined without one; 400 when it is not RFC 7239 syntax. */
function forwardedElements(request: FastifyRequest): ForwardedElement[] | undefined {
  const header = request.headers.forwarded;
  if (header === undefined) return undefined;
  const elements = parseForwarded(header);
  if (!elements) throw new Errors.INVALID_HEADER('Forwarded', 'not RFC 7239 syntax (for=...;proto=...;host=...)');
  return elements;
}

function firstValue(header: string | string[] | undefined): string | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  const first = text?.split(',')[0]?.trim();
  return first === '' ? undefined : first;
}

function socketProtocol(request: FastifyRequest): string {
  return (request.raw.socket as TLSSocket | undefined)?.encrypted ? 'https' : 'http';
}

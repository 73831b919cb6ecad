import { createRequire } from 'node:module';
import type { DestinationStream, LoggerOptions } from 'pino';
import { type FastifyInstance, LogController } from 'fastify';
import { onRequestEnd } from './request-end.js';

export type LogFormat = 'json' | 'pretty';

/**
 * The options `buildApp` gives Fastify for its logger: JSON lines on stdout, or with `pretty`
 * human-readable lines through pino-pretty (loaded only then; synchronous, so the last line before
 * the process exits is not lost). Build the app with `requestLogController()` and
 * `registerRequestLog`: one line per request instead of Fastify's two.
 */
export function loggerOptions(level: string, format: LogFormat, serializers: LoggerOptions['serializers']): LoggerOptions & { stream?: DestinationStream } {
  const options = { level, redact: ['req.headers.authorization', 'req.headers.cookie'], serializers };
  if (format !== 'pretty') return options;
  const pretty = createRequire(import.meta.url)('pino-pretty') as (options: Record<string, unknown>) => DestinationStream;
  const stream = pretty({
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    // A request line reads `HEAD /files/3f0c… 204 request completed`, its id and time below it.
    messageFormat: '{if req.method}{req.method} {req.url} {res.statusCode} {end}{msg}',
    ignore: 'pid,hostname,req,res',
  });
  return { ...options, stream };
}

/** Fastify's per-request lines ("incoming request", "request completed") turned off. */
export function requestLogController(): LogController {
  return new LogController({ disableRequestLogging: true });
}

/**
 * One log line per request, when it is over: method, url (query values redacted by the `req`
 * serializer), status, time taken and the request id (`reqId`). Fastify's own pair of lines
 * ("incoming request", "request completed") cost ~6% of the HEAD rate. A client that leaves
 * before the answer gets an "aborted" line. A route's `logLevel` (warn for /healthz) silences its
 * line as it did Fastify's.
 */
export function registerRequestLog(app: FastifyInstance): void {
  onRequestEnd(app, (request, end) => {
    if (end.answered) request.log.info({ req: request, res: end.reply, responseTime: end.reply.elapsedTime }, 'request completed');
    else request.log.info({ req: request }, 'request aborted by the client');
  });
}

import type { Server } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { MetricsConfig } from '../schema.js';
import { onRequestEnd } from '../request-end.js';
import { type MetricsListener, startMetricsListener } from './listener.js';
import { PrometheusMetrics } from './prometheus.js';
import { type MetricsRecorder, NO_METRICS } from './recorder.js';

import type { MetricsHandle } from './handle.js';

/** The app's recorder: Prometheus when `metrics.enabled`, else one that records nothing. */
export function createMetrics(config: MetricsConfig): MetricsRecorder {
  return config.enabled ? new PrometheusMetrics() : NO_METRICS;
}

export class MetricsListenError extends Error {
  override name = 'MetricsListenError';
}

const ERROR_CODE = /"code":"([A-Za-z0-9_]{1,64})"/;

/**
 * Count `app`'s requests, read the gauges at scrape time, and run the metrics listener while the
 * app is up (it starts when the app is ready: a taken port fails `listen`). Nothing with metrics off.
 */
export function registerMetrics(
  app: FastifyInstance,
  config: MetricsConfig,
  metrics: MetricsRecorder,
  outboxDepth: () => Promise<number | undefined>,
): MetricsHandle | undefined {
  if (!(metrics instanceof PrometheusMetrics)) return undefined;
  metrics.watch({ connectionsOpen: () => connectionsOf(app.server), outboxDepth });
  // The error code is only in the body the error handler wrote; read it for error answers only.
  const codes = new WeakMap<FastifyRequest, string>();
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode >= 400 && typeof payload === 'string') {
      const code = ERROR_CODE.exec(payload)?.[1];
      if (code) codes.set(request, code);
    }
    done(null, payload);
  });
  onRequestEnd(app, (request, end) => {
    metrics.request(request.method, end.answered ? end.reply.statusCode : 'aborted', codes.get(request));
  });

  let listener: MetricsListener | undefined;
  app.addHook('onReady', async () => {
    try {
      listener = await startMetricsListener(config, metrics.registry);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'EADDRINUSE' ? 'the address is already in use' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
      throw new MetricsListenError(`Cannot listen for metrics on ${config.host}:${config.port}: ${reason}`);
    }
  });
  app.addHook('onClose', async () => listener?.close());
  return {
    contentType: metrics.registry.contentType,
    text: () => metrics.registry.metrics(),
    get url() {
      return listener?.url;
    },
  };
}

function connectionsOf(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
}

/**
 * What an app exposes of its metrics (`app.tusport.metrics`), for a host app to serve them
 * itself. Declared apart from the prom-client code so public types do not pull in prom-client's.
 */
export interface MetricsHandle {
  /** The Prometheus text format's content type. */
  readonly contentType: string;
  /** The metrics now, in the Prometheus text format. */
  text(): Promise<string>;
  /** Where the metrics listener serves them, once the app is ready. */
  readonly url: string | undefined;
}

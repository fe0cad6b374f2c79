/**
 * The sink's small HTTP listener (SINK_METRICS_HOST:SINK_METRICS_PORT): GET /metrics for
 * Prometheus, GET /healthz for scripts and supervisors (200 while the sink runs, 503 while it
 * starts or stops). The sink has no other port, and a log line is no API to wait on.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsServer {
  /** The bound port (a free one when asked for 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Listens; `running` says whether /healthz answers 200. */
export async function startMetricsServer(host: string, port: number, registry: Registry,
  running: () => boolean): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/healthz')) {
      res.writeHead(path === '/metrics' || path === '/healthz' ? 405 : 404).end();
      return;
    }
    if (path === '/healthz') {
      const ok = running();
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'not_running' }));
      return;
    }
    registry.metrics().then((text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

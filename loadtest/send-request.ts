/** One request of a node:http driver (the open loop, the flow loop): sent once, answered once. */
import { type Agent, request } from 'node:http';
import type { RequestSpec } from './requests.ts';

// The same per-request timeout as the closed loop (autocannon).
const TIMEOUT_MS = 10_000;

export interface Target {
  readonly agent: Agent;
  readonly hostname: string;
  readonly port: string;
}

/** Sends `spec`; `done` is called exactly once, with the status and body, or status 0 on a socket error or timeout. */
export function sendRequest(t: Target, spec: RequestSpec, done: (status: number, body: Buffer) => void): void {
  let settled = false;
  const end = (status: number, body: Buffer) => {
    if (settled) return;
    settled = true;
    done(status, body);
  };
  const req = request({
    agent: t.agent, hostname: t.hostname, port: t.port, method: spec.method, path: spec.path, timeout: TIMEOUT_MS,
    headers: spec.body ? { ...spec.headers, 'content-length': String(spec.body.length) } : spec.headers,
  }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => end(res.statusCode ?? 0, Buffer.concat(chunks)));
    res.on('error', () => end(0, Buffer.alloc(0)));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => end(0, Buffer.alloc(0)));
  req.end(spec.body);
}

/**
 * GET /openapi.json: the API's description, served without a token on every listener. It
 * describes routes and shapes only, never data, and clients and tools fetch it before they
 * hold any token; the admin listener serves it too, so a separate admin port is described
 * where it is reached.
 */
import type { Handler } from '../http/route.ts';

/** Answers the document, serialised once here (start-up), sent as the same bytes every time. */
export function openApiHandler(doc: unknown): Handler {
  const bytes = Buffer.from(JSON.stringify(doc));
  return () => ({ status: 200, body: null, stream: { size: bytes.length, contentType: 'application/json', next: () => bytes } });
}

/** The admin API over HTTP as the operator CLI calls it: bearer token, JSON in and out. */

/** An answer of the API other than 2xx: its status and its `{error, message}`. */
export class AdminApiError extends Error {
  constructor(readonly status: number, readonly code: string, readonly detail: string | undefined) {
    super(`${status} ${code}${detail ? `: ${detail}` : ''}`);
  }
}

/** The gateway could not be reached or did not answer in time. */
export class AdminNetworkError extends Error {}

// An admin call is a few indexed MySQL statements; a gateway that takes longer is stuck.
const TIMEOUT_MS = 30_000;

export class AdminClient {
  constructor(private readonly base: string, private readonly token: string) {}

  /** One call; resolves with the parsed JSON answer, throws AdminApiError or AdminNetworkError. */
  async call(method: string, path: string, body?: unknown): Promise<any> {
    const url = new URL(path, this.base);
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(TIMEOUT_MS) });
      text = await res.text();
    } catch (err) {
      // fetch says only "fetch failed"; the cause says why (ECONNREFUSED, a timeout, a bad port).
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new AdminNetworkError(`cannot reach the admin API at ${this.base} (ADMIN_URL): ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) throw new AdminApiError(res.status, json?.error ?? 'error', json?.message ?? (json ? undefined : text.slice(0, 200)));
    if (json === undefined) throw new AdminNetworkError(`${method} ${url.pathname} answered ${res.status} without JSON`);
    return json;
  }
}

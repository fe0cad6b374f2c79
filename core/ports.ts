/** A free TCP port, for processes that must be told a concrete port rather than 0. */
import { type AddressInfo, createServer } from 'node:net';

/**
 * A port free on `host` right now. Another process could take it before the caller binds it:
 * acceptable where it is used (workers sharing a port picked for PORT=0, tests and benches).
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

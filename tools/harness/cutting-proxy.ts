/**
 * A loopback TCP proxy in front of Redis (or MySQL) that can lose one reply: when armed, the next
 * request from the client reaches the server, its reply is swallowed and the client connection
 * is cut. The client cannot know whether the command ran, the situation of a timeout or a
 * network fault. It can also play a whole outage: every connection is cut and new ones are
 * refused; or a hung server: connections are accepted but nothing moves either way until it
 * is released, as when the server is stopped with SIGSTOP (the kernel still accepts and
 * buffers), or never, a black hole. And it can hang right after a given reply, to stop a client
 * between two steps of its work.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

export interface CuttingProxy {
  readonly port: number;
  /** The next request is delivered, its reply dropped, and the connection cut. */
  armCut(): void;
  /** While down, open connections are cut and new ones closed at once. */
  setDown(down: boolean): void;
  /** While hung, bytes in both directions are held; released, they are delivered in order. */
  setHung(hung: boolean): void;
  /** The next reply matching `pattern` is delivered, then the proxy hangs and `then` runs at once. */
  hangAfterReply(pattern: RegExp, then: () => void): void;
  close(): Promise<void>;
}

/** Starts a proxy to host:port on a free loopback port. */
export async function startCuttingProxy(host: string, port: number): Promise<CuttingProxy> {
  let armed = false;
  let down = false;
  let hung = false;
  let hangAfter: { pattern: RegExp; then: () => void } | undefined;
  const held: [Socket, Buffer][] = [];
  const deliver = (to: Socket, b: Buffer) => {
    if (hung) held.push([to, b]);
    else if (!to.destroyed) to.write(b);
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(port, host);
    sockets.add(client).add(upstream);
    let cutting = false;
    client.on('data', (b) => {
      if (armed) {
        armed = false;
        cutting = true;
      }
      deliver(upstream, b);
    });
    upstream.on('data', (b) => {
      if (cutting) {
        client.destroy();
        upstream.destroy();
        return;
      }
      deliver(client, b);
      if (hangAfter?.pattern.test(b.toString('latin1'))) {
        const { then } = hangAfter;
        hangAfter = undefined;
        hung = true;
        then();
      }
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    armCut: () => { armed = true; },
    setDown: (d) => {
      down = d;
      if (d) for (const s of sockets) s.destroy();
    },
    setHung: (h) => {
      hung = h;
      if (!h) for (const [to, b] of held.splice(0)) deliver(to, b);
    },
    hangAfterReply: (pattern, then) => { hangAfter = { pattern, then }; },
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

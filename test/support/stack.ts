/**
 * A test file's whole stack on its own prefix: storage, a sink in-process (its log silenced) and
 * a gateway process, the way `make run` wires them. What a test starts on top is pushed to
 * `cleanup` and stopped first, in reverse order.
 */
import { createLog } from '../../sink/log.ts';
import { startSink } from '../../sink/sink.ts';
import { type GatewayProc, spawnGateway } from './processes.ts';
import { openStorage, type Storage, testConfig } from '../../tools/harness/storage.ts';

export interface Stack {
  readonly s: Storage;
  readonly gw: GatewayProc;
  readonly cleanup: (() => Promise<unknown>)[];
  /** Stops what the tests added, then the gateway and the sink, and deletes the prefix's data. */
  close(): Promise<void>;
}

/** Opens the stack for `env` (testEnv(...) variables). */
export async function openStack(env: Record<string, string>): Promise<Stack> {
  const s = await openStorage(testConfig(env));
  const cleanup: (() => Promise<unknown>)[] = [];
  const sink = await startSink(s.cfg, { log: createLog(() => undefined) });
  cleanup.push(() => sink.stop());
  const gw = await spawnGateway(env);
  cleanup.push(() => gw.stop());
  return {
    s, gw, cleanup,
    close: async () => {
      for (const f of cleanup.reverse()) await f();
      await s.close();
    },
  };
}

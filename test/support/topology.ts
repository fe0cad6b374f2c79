/**
 * The topology `make test-cluster` starts (Redis Cluster of 3 masters with a replica each, a
 * second MariaDB): its settings for a test's processes, and its nodes as they are now. Roles
 * change under the tests (a failover promotes a replica), so they are read, never assumed.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { loadConfigWith } from '../../config/index.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url);
// scripts/services.sh names its files by TOPOLOGY_NAME; the Makefile's test-cluster uses this one.
const NAME = 'test-topology';

export interface TopologyNode {
  readonly port: number;
  readonly id: string;
  readonly role: 'master' | 'replica';
  /** A replica's master id; a master's own id. */
  readonly masterId: string;
  /** Slot ranges of a master ('0-5460'), empty for a replica. */
  readonly slots: readonly string[];
  /** Not reachable as the cluster sees it (fail or pfail). */
  readonly failing: boolean;
}

/** The test topology's Redis nodes and MariaDB servers (TEST_TOPOLOGY_*), or undefined outside make test-cluster. */
export function testTopology(): { nodes: string[]; mysqlUrls: string[] } | undefined {
  const t = loadConfigWith({}).test;
  if (t.topologyRedisNodes.length === 0 || t.topologyMysqlUrls.length < 2) return undefined;
  return { nodes: [...t.topologyRedisNodes], mysqlUrls: [...t.topologyMysqlUrls] };
}

/** Env-style settings that point a gateway, sink or Config at the test topology (add testEnv's prefixes). */
export function topologyEnv(): Record<string, string> {
  const t = testTopology();
  if (!t) throw new Error('TEST_TOPOLOGY_REDIS_NODES and TEST_TOPOLOGY_MYSQL_URLS are unset: run make test-cluster');
  return { REDIS_CLUSTER_NODES: t.nodes.join(','), MYSQL_URL: t.mysqlUrls[0]!, MYSQL_SHARD_URLS: t.mysqlUrls.join(',') };
}

/** redis-cli against one node; its output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
  return stdout;
}

/** CLUSTER NODES as one node sees it. */
export async function clusterNodes(askPort: number): Promise<TopologyNode[]> {
  const out = await redisCli(askPort, 'cluster', 'nodes');
  return out.trim().split('\n').map((line) => {
    const f = line.trim().split(' ');
    const flags = f[2]!.split(',');
    const master = flags.includes('master');
    return {
      port: Number(f[1]!.split('@')[0]!.split(':')[1]),
      id: f[0]!,
      role: master ? 'master' : 'replica',
      masterId: master ? f[0]! : f[3]!,
      slots: master ? f.slice(8) : [],
      failing: flags.includes('fail') || flags.includes('fail?'),
    } satisfies TopologyNode;
  });
}

/** The pid of a test topology node, from the pid file scripts/services.sh wrote. */
export function nodePid(port: number): number {
  const pid = Number(readFileSync(new URL(`.data/run/${NAME}-redis-${port}.pid`, ROOT), 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no pid for test topology node ${port}`);
  return pid;
}

/**
 * The scaled-out drill's servers, driven through drill/cluster-services.sh (scripts/lib/topology.sh's
 * topology under the name drill-topology; processes signalled only by their pid files). Every call
 * is bounded.
 */
import { runScript } from '../tools/harness/run-script.ts';

export interface ClusterServicesOptions {
  readonly root: string;
  /** The drill's main MariaDB (main and shard 0 databases). */
  readonly mysqlPort: number;
  /** The second MariaDB (shard 1). */
  readonly mysql2Port: number;
  /** 3 masters and 3 replicas, as created. */
  readonly redisPorts: readonly number[];
  /** The node live-reshard adds as a fourth master. */
  readonly sparePort: number;
  readonly logFile: string;
}

export class ClusterServices {
  constructor(readonly o: ClusterServicesOptions) {}

  private run(args: readonly string[], timeoutMs: number): Promise<void> {
    return runScript(this.o.root, 'drill/cluster-services.sh', args, {
      DRILL_MYSQL_PORT: String(this.o.mysqlPort),
      DRILL_TOPOLOGY_MYSQL_PORT: String(this.o.mysql2Port),
      DRILL_TOPOLOGY_REDIS_PORTS: this.o.redisPorts.join(' '),
      DRILL_TOPOLOGY_SPARE_PORT: String(this.o.sparePort),
    }, timeoutMs, this.o.logFile);
  }

  /** Both MariaDB servers and the cluster (created 3+3 when it has no data). */
  up(): Promise<void> { return this.run(['up'], 180_000); }
  /** Stops every node (the spare too) and both MariaDB servers, by pid. */
  down(): Promise<void> { return this.run(['down'], 120_000); }
  /** Deletes the cluster's data (refused while a node runs): the next up() creates a fresh 3+3. */
  reset(): Promise<void> { return this.run(['reset'], 10_000); }
  /** SIGKILL to the node on `port`; resolves once it is gone. */
  nodeKill(port: number): Promise<void> { return this.run(['node-kill', String(port)], 10_000); }
  /** SIGSTOP or SIGCONT to the node on `port`. */
  nodeSignal(port: number, sig: 'STOP' | 'CONT'): Promise<void> { return this.run(['node-signal', String(port), sig], 10_000); }
  /** Starts the nodes that are down and waits for cluster_state:ok and the replicas' sync. */
  nodesUp(): Promise<void> { return this.run(['nodes-up'], 90_000); }
  /** Starts the spare node and adds it as a master without slots (redis-cli --cluster add-node). */
  spareAdd(): Promise<void> { return this.run(['spare-add'], 60_000); }
  /** Stops the second MariaDB (SIGTERM by pid, waits for its exit). */
  mysql2Down(): Promise<void> { return this.run(['mariadb-2-down'], 30_000); }
  mysql2Up(): Promise<void> { return this.run(['mariadb-2-up'], 60_000); }
}

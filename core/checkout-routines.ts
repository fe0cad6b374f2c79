/**
 * The stored procedures of checkout/tcc.ts (part of the schema: core/schema.ts creates them), one set per coupon table: lock, confirm, cancel and
 * refund each run as ONE call, the decision made in the server under the coupon's row lock.
 * One round trip and statements parsed once per connection, instead of a SELECT round trip and
 * a write round trip of seven text statements (BENCHMARKS.md, "Issue 13": the calls were
 * CPU-bound on statement parsing, result sends and wake-ups).
 *
 * Each procedure answers one row: `code` ('ok', 'missing', or an error code of core/errors.ts),
 * `at` (lockedUntil, usedAt or refundedAt), `status` (a refund's outcome). The rules are the
 * state table of docs/api.md's "Checkout"; test/support/checkout.ts holds an independent model of
 * them that the concurrency tests check every history against. Bodies are versioned by name
 * (TCC_VERSION): a changed body gets a new name, so gateways of both versions can run at once.
 */
import type { Pool } from 'mysql2/promise';
import { shardTableName } from './shards.ts';

/** Bumped whenever a body below changes. */
const TCC_VERSION = 1;

/** Name of procedure `op` for coupon table `table`. */
export const routineName = (op: 'lock' | 'confirm' | 'cancel' | 'refund', table: number) => `tcc${TCC_VERSION}_${op}_${table}`;

// Ids compare as bytes (the identity rule), whatever the server's defaults.
const ID = (n: number) => `VARCHAR(${n}) CHARACTER SET ascii COLLATE ascii_bin`;

/** Declarations, the row lock and the reads every procedure starts with. */
function head(table: string): string {
  return `
  DECLARE v_found BOOLEAN DEFAULT TRUE;
  DECLARE v_user ${ID(64)};
  DECLARE v_status ${ID(8)};
  DECLARE v_holder ${ID(64)};
  DECLARE v_until, v_from, v_to DATETIME(3);
  DECLARE o_state ${ID(10)} DEFAULT NULL;
  DECLARE o_until, o_used, o_at DATETIME(3);
  DECLARE o_refund ${ID(8)};
  DECLARE r_code ${ID(24)} DEFAULT 'ok';
  DECLARE r_at DATETIME(3) DEFAULT NULL;
  DECLARE r_status ${ID(8)} DEFAULT NULL;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
  -- No gap locks: calls on different coupons never wait for each other.
  SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
  START TRANSACTION;
  -- One statement: the coupon row (locked) and this order's control row, if any.
  SELECT c.user_id, c.status, c.order_id, c.locked_until, c.valid_from, c.valid_to,
         o.state, o.locked_until, o.used_at, o.refund_status, o.updated_at
    INTO v_user, v_status, v_holder, v_until, v_from, v_to, o_state, o_until, o_used, o_refund, o_at
    FROM ${table} c LEFT JOIN coupon_order o ON o.coupon_id = c.coupon_id AND o.order_id = p_order
   WHERE c.coupon_id = p_coupon FOR UPDATE;`;
}

const tail = `
  COMMIT;
  SELECT r_code AS code, r_at AS at, r_status AS status;`;

/** Sets the coupon row's status and order fields. */
const setCoupon = (table: string, status: string, order: string, until: string, used: string) =>
  `UPDATE ${table} SET status = ${status}, order_id = ${order}, locked_until = ${until}, used_at = ${used} WHERE coupon_id = p_coupon;`;

/** Creates or moves this order's control row. */
const setOrder = (state: string, until: string, used: string, refund: string) =>
  `INSERT INTO coupon_order (coupon_id, order_id, state, locked_until, used_at, refund_status, updated_at)
     VALUES (p_coupon, p_order, ${state}, ${until}, ${used}, ${refund}, p_now)
     ON DUPLICATE KEY UPDATE state = VALUES(state), locked_until = VALUES(locked_until), used_at = VALUES(used_at),
       refund_status = VALUES(refund_status), updated_at = VALUES(updated_at);`;

/** Records one change of the coupon's status. */
const transition = (from: string, to: string, order: string, cause: string) =>
  `INSERT INTO coupon_transition (coupon_id, from_status, to_status, order_id, cause, at)
     VALUES (p_coupon, ${from}, ${to}, ${order}, '${cause}', p_now);`;

/** Releases the lapsed lock of the order that holds it (v_holder): unused again, that order learns lock_expired. */
const release = (table: string) => `
    ${setCoupon(table, "'unused'", 'NULL', 'NULL', 'NULL')}
    UPDATE coupon_order SET state = 'released', updated_at = p_now WHERE coupon_id = p_coupon AND order_id = v_holder AND state = 'locked';
    ${transition("'locked'", "'unused'", 'v_holder', 'lock_expired')}`;

/** This order's lock lapsed: released if it still holds the coupon, and its control row says so. */
const expire = (table: string) => `
    IF v_status = 'locked' AND v_holder = p_order THEN ${release(table)}
    ELSE UPDATE coupon_order SET state = 'released', updated_at = p_now WHERE coupon_id = p_coupon AND order_id = p_order AND state = 'locked';
    END IF;
    SET r_code = 'lock_expired';`;

const ownsLiveLock = "v_status = 'locked' AND v_holder = p_order AND v_until > p_now";

/** The four procedures of coupon table `t`, as CREATE statements. */
export function routines(t: number): string[] {
  const table = `\`${shardTableName(t)}\``;
  const id = ID(48);
  const order = ID(64);
  return [`
CREATE PROCEDURE \`${routineName('lock', t)}\`(p_coupon ${id}, p_user ${ID(64)}, p_order ${order}, p_now DATETIME(3),
  p_until DATETIME(3), p_cart_refused BOOLEAN)
BEGIN${head(table)}
  IF NOT v_found THEN SET r_code = 'missing';
  ELSEIF v_user <> p_user THEN SET r_code = 'forbidden';
  ELSEIF o_state = 'cancelled' THEN SET r_code = 'order_cancelled';
  ELSEIF o_state = 'confirmed' THEN SET r_code = 'coupon_used';
  ELSEIF o_state = 'refunded' THEN SET r_code = 'order_refunded';
  ELSEIF o_state = 'released' THEN SET r_code = 'lock_expired';
  ELSEIF o_state = 'locked' THEN
    IF ${ownsLiveLock} THEN SET r_at = o_until; ELSE ${expire(table)} END IF;
  ELSE
    -- Another order's lapsed lock is released on the way; the coupon is then judged as unused.
    IF v_status = 'locked' AND v_until <= p_now THEN ${release(table)} SET v_status = 'unused'; END IF;
    IF v_status = 'used' THEN SET r_code = 'coupon_used';
    ELSEIF v_status = 'locked' THEN SET r_code = 'coupon_locked';
    ELSEIF v_status = 'expired' OR p_now >= v_to THEN SET r_code = 'coupon_expired';
    ELSEIF p_now < v_from THEN SET r_code = 'not_started';
    ELSEIF p_cart_refused THEN SET r_code = 'not_applicable';
    ELSE
      ${setCoupon(table, "'locked'", 'p_order', 'p_until', 'NULL')}
      ${setOrder("'locked'", 'p_until', 'NULL', 'NULL')}
      ${transition("'unused'", "'locked'", 'p_order', 'lock')}
      SET r_at = p_until;
    END IF;
  END IF;${tail}
END`, `
CREATE PROCEDURE \`${routineName('confirm', t)}\`(p_coupon ${id}, p_order ${order}, p_now DATETIME(3))
BEGIN${head(table)}
  IF NOT v_found THEN SET r_code = 'missing';
  ELSEIF o_state = 'confirmed' THEN SET r_at = o_used;
  ELSEIF o_state = 'cancelled' THEN SET r_code = 'order_cancelled';
  ELSEIF o_state = 'refunded' THEN SET r_code = 'order_refunded';
  ELSEIF o_state = 'released' THEN SET r_code = 'lock_expired';
  ELSEIF o_state = 'locked' THEN
    IF ${ownsLiveLock} THEN
      ${setCoupon(table, "'used'", 'p_order', 'NULL', 'p_now')}
      ${setOrder("'confirmed'", 'o_until', 'p_now', 'NULL')}
      ${transition("'locked'", "'used'", 'p_order', 'confirm')}
      SET r_at = p_now;
    ELSE ${expire(table)}
    END IF;
  ELSE SET r_code = 'not_locked';
  END IF;${tail}
END`, `
CREATE PROCEDURE \`${routineName('cancel', t)}\`(p_coupon ${id}, p_order ${order}, p_now DATETIME(3))
BEGIN${head(table)}
  IF NOT v_found THEN SET r_code = 'missing';
  ELSEIF o_state = 'cancelled' THEN SET r_code = 'ok';
  ELSEIF o_state = 'confirmed' THEN SET r_code = 'coupon_used';
  ELSEIF o_state = 'refunded' THEN SET r_code = 'order_refunded';
  ELSE
    -- Ours, lapsed or not: released. Released by the sweep, or never locked (the empty
    -- rollback): only remembered, and a late lock of this order is refused.
    IF o_state = 'locked' AND v_status = 'locked' AND v_holder = p_order THEN
      ${setCoupon(table, "'unused'", 'NULL', 'NULL', 'NULL')}
      ${transition("'locked'", "'unused'", 'p_order', 'cancel')}
    END IF;
    ${setOrder("'cancelled'", 'o_until', 'NULL', 'NULL')}
  END IF;${tail}
END`, `
CREATE PROCEDURE \`${routineName('refund', t)}\`(p_coupon ${id}, p_order ${order}, p_now DATETIME(3))
BEGIN${head(table)}
  IF NOT v_found THEN SET r_code = 'missing';
  ELSEIF o_state = 'refunded' THEN SET r_at = o_at, r_status = o_refund;
  ELSEIF o_state = 'confirmed' AND v_status = 'used' AND v_holder = p_order THEN
    SET r_status = IF(p_now >= v_from AND p_now < v_to, 'unused', 'expired'), r_at = p_now;
    ${setCoupon(table, 'r_status', 'NULL', 'NULL', 'NULL')}
    ${setOrder("'refunded'", 'o_until', 'o_used', 'r_status')}
    ${transition("'used'", 'r_status', 'p_order', 'refund')}
  ELSE SET r_code = 'not_used';
  END IF;${tail}
END`];
}

/** Creates the procedures of every coupon table of database `db` that it lacks (safe to run concurrently). */
export async function ensureRoutines(pool: Pool, db: string, tables: number): Promise<void> {
  const [rows] = await pool.query(`SELECT ROUTINE_NAME AS n FROM information_schema.ROUTINES
    WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'PROCEDURE'`, [db]);
  const have = new Set((rows as { n: string }[]).map((r) => r.n));
  for (let t = 0; t < tables; t++) {
    for (const sql of routines(t)) {
      const name = /PROCEDURE `([^`]+)`/.exec(sql)![1]!;
      if (have.has(name)) continue;
      // The body names its tables unqualified: it runs in the database it is created in.
      await pool.query(`CREATE PROCEDURE IF NOT EXISTS \`${db}\`.${sql.trim().slice('CREATE PROCEDURE '.length)}`);
    }
  }
}

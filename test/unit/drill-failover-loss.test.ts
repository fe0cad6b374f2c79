/**
 * What a failover cost, as make drill TOPOLOGY=cluster counts it (drill/cluster-loss.ts), on
 * hand-made facts: answers lost with the old master, the units they put back in stock, units
 * told twice, and when claims homed on the killed master's sub-stocks were served again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { failoverLoss, failoverOutage } from '../../drill/cluster-loss.ts';
import type { Attempt, CouponRow, DrillFacts, Outcome } from '../../drill/facts.ts';
import { homeSubStock } from '../../lua/keys.ts';

const at = (templateId: string, userId: string, requestId: string, outcome: Outcome, sentAt = 0, endedAt = sentAt + 5): Attempt =>
  ({ requestId, userId, templateId, gateway: 0, sentAt, endedAt, outcome });
const issued = (templateId: string, userId: string, couponId: string): Outcome => ({ kind: 'issued', couponId, replayed: false, userId, templateId });
const row = (templateId: string, userId: string, requestId: string, couponId: string): CouponRow => ({ couponId, userId, templateId, requestId });

function facts(over: Partial<DrillFacts>): DrillFacts {
  return { templates: [{ id: 'A', totalStock: 2, perUserLimit: 1 }], attempts: [], rows: [], stock: new Map(), deadLetters: 0,
    backlog: 0, lossWindows: [], ...over };
}

test('no loss: every told coupon stored', () => {
  const f = facts({ attempts: [at('A', 'u1', 'r1', issued('A', 'u1', 'c1'))], rows: [row('A', 'u1', 'r1', 'c1')],
    stock: new Map([['A', { remaining: 1, pending: 0 }]]) });
  assert.deepEqual(failoverLoss(f), { lostAnswers: 0, unitsBack: 0, unitsResold: 0 });
});

test('a lost answer whose unit went back to the stock, and the unit sold again', () => {
  // c1 told and lost with the old master: stock says 1 stored + 1 remaining = 2, so c1's unit is
  // back; then c2 and c3 were told from the 2 units: 3 told for a stock of 2.
  const f = facts({
    attempts: [at('A', 'u1', 'r1', issued('A', 'u1', 'c1')), at('A', 'u2', 'r2', issued('A', 'u2', 'c2')),
      at('A', 'u3', 'r3', issued('A', 'u3', 'c3'))],
    rows: [row('A', 'u2', 'r2', 'c2'), row('A', 'u3', 'r3', 'c3')],
    stock: new Map([['A', { remaining: 0, pending: 0 }]]),
  });
  assert.deepEqual(failoverLoss(f), { lostAnswers: 1, unitsBack: 1, unitsResold: 1 });
  // a stock that does not add up: the lost unit is not counted as back (the verifier flags it).
  assert.equal(failoverLoss({ ...f, stock: new Map([['A', { remaining: 1, pending: 0 }]]) }).unitsBack, 0);
});

test('outage: claims homed on the killed sub-stocks, from the kill', () => {
  const t = { id: 'A', subStocks: 4 };
  const users = Array.from({ length: 40 }, (_, i) => `u${i}`);
  const on = users.filter((u) => homeSubStock('A', u, 4) === 1);
  const off = users.filter((u) => homeSubStock('A', u, 4) !== 1);
  const killed = new Set(['A|1']);
  const attempts = [
    at('A', on[0]!, 'a', { kind: 'error', status: 503, code: 'unavailable' }, 1_100),
    at('A', on[1]!, 'b', { kind: 'transport', error: 'timeout' }, 3_000, 4_000),
    at('A', off[0]!, 'c', { kind: 'error', status: 503, code: 'unavailable' }, 6_000),
    at('A', off[1]!, 'd', issued('A', off[1]!, 'c1'), 1_500),
    at('A', on[2]!, 'e', issued('A', on[2]!, 'c2'), 500),
    at('A', on[3]!, 'f', issued('A', on[3]!, 'c3'), 5_000),
  ];
  assert.deepEqual(failoverOutage(attempts, [t], killed, 1_000), { lastErrorMs: 3_000, firstIssuedMs: 4_005 });
  assert.deepEqual(failoverOutage([], [t], killed, 1_000), { lastErrorMs: null, firstIssuedMs: null });
});

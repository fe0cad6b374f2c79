// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * Who may do what (issue 5, item 5): admin routes on a separate listener or off, a budget of
 * wrong admin tokens per address, and claims that take their user from a signed token.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { signUserToken } from '../../core/user-token.ts';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';
import { findLog } from '../../tools/harness/log-lines.ts';

const SECRET = 'login-service-secret-0123456789abcdef';
const env = testEnv();
let s: Storage;
const procs: GatewayProc[] = [];

before(async () => { s = await openStorage(testConfig(env)); });
after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await s?.close();
});

async function gateway(extra: Record<string, string>): Promise<GatewayProc> {
  const g = await spawnGateway({ ...env, ...extra });
  procs.push(g);
  return g;
}

test('ADMIN_ROUTES=separate: admin answers on its own port only; off: nowhere', async () => {
  const g = await gateway({ ADMIN_ROUTES: 'separate', ADMIN_PORT: '0' });
  const m = findLog(g.log(), 'admin listening');
  assert.ok(m, g.log());
  const adminUrl = `http://127.0.0.1:${m.port}`;
  const body = { name: 'sep', type: 'direct', value: 1, totalStock: 5 };
  assert.equal((await http('POST', `${g.url}/v1/admin/templates`, body, ADMIN)).status, 404, 'not on the public port');
  const t = await createTemplate(adminUrl, body);
  assert.equal((await http('POST', `${g.url}/v1/claim`, { userId: 'u1', templateId: t.id })).status, 200);
  assert.equal((await http('POST', `${adminUrl}/v1/claim`, { userId: 'u2', templateId: t.id })).status, 404, 'no claims on the admin port');
  // The console goes where the admin routes go.
  assert.equal((await http('GET', `${adminUrl}/console`)).status, 200);
  assert.equal((await http('GET', `${g.url}/console`)).status, 404, 'no console on the public port');

  const off = await gateway({ ADMIN_ROUTES: 'off' });
  assert.equal((await http('GET', `${off.url}/v1/admin/templates/${t.id}`, undefined, ADMIN)).status, 404);
  assert.equal((await http('POST', `${off.url}/v1/claim`, { userId: 'u3', templateId: t.id })).status, 200);
  assert.equal((await http('GET', `${off.url}/console`)).status, 404);
});

test('wrong admin tokens: after the budget, 429 even with the right token; other routes unaffected', async () => {
  const g = await gateway({ ADMIN_FAILURE_BURST: '3', ADMIN_FAILURES_PER_MINUTE: '1' });
  const url = `${g.url}/v1/admin/templates?limit=1`;
  for (let i = 0; i < 3; i++) assert.equal((await http('GET', url, undefined, { authorization: `Bearer guess-${i}` })).status, 401);
  const limited = await http('GET', url, undefined, ADMIN);
  assert.deepEqual([limited.status, limited.json.error, limited.headers['retry-after']], [429, 'rate_limited', '1']);
  assert.equal((await http('GET', `${g.url}/healthz`)).status, 200);
});

test('user tokens: the user comes from the token; none, bad or someone else\'s is refused', async () => {
  const g = await gateway({ USER_TOKEN_SECRETS: `other-secret-rotated-in-0123456789ab,${SECRET}` });
  const t = await createTemplate(g.url, { name: 'tok', type: 'direct', value: 1, totalStock: 5 });
  const exp = Math.floor(Date.now() / 1000) + 60;
  const bearer = (user: string, secret = SECRET, e = exp) => ({ authorization: `Bearer ${signUserToken(secret, user, e)}` });
  const claim = (body: Record<string, string>, h: Record<string, string> = {}) => http('POST', `${g.url}/v1/claim`, { templateId: t.id, ...body }, h);

  const ok = await claim({}, bearer('alice'));
  assert.deepEqual([ok.status, ok.json.userId], [200, 'alice'], ok.raw.toString());
  assert.equal((await claim({ userId: 'alice' }, bearer('alice'))).json.status, 'limit_reached', 'a body repeating the user is fine');
  const cases: [Record<string, string>, Record<string, string>, number, string][] = [
    [{ userId: 'bob' }, {}, 401, 'unauthorized'],
    [{ userId: 'bob' }, bearer('alice'), 403, 'forbidden'],
    [{}, bearer('bob', 'an-attacker-secret-0123456789abcdef'), 401, 'unauthorized'],
    [{}, bearer('bob', SECRET, exp - 120), 401, 'unauthorized'],
  ];
  for (const [body, h, status, error] of cases) {
    const r = await claim(body, h);
    assert.deepEqual([r.status, r.json.error], [status, error], `${JSON.stringify(body)} ${JSON.stringify(h)}: ${r.raw.toString()}`);
  }
  const list = (user: string, h: Record<string, string>) => http('GET', `${g.url}/v1/users/${user}/coupons`, undefined, h);
  assert.equal((await list('alice', bearer('alice'))).status, 200);
  assert.equal((await list('alice', bearer('bob'))).status, 403);
  assert.equal((await list('alice', {})).status, 401);
  // Redemption: the same rule, and the user's check comes before the code's.
  const { json } = await http('POST', `${g.url}/v1/admin/templates/${t.id}/codes`, { count: 1 }, ADMIN);
  const code = (await http('GET', `${g.url}/v1/admin/code-batches/${json.batchId}/codes`, undefined, ADMIN)).raw.toString().trim();
  const redeem = (body: Record<string, string>, h: Record<string, string>) => http('POST', `${g.url}/v1/redeem`, { code, ...body }, h);
  assert.deepEqual([(await redeem({ userId: 'bob' }, {})).status, (await redeem({ userId: 'bob' }, bearer('alice'))).status], [401, 403]);
  const redeemed = await redeem({}, bearer('carol'));
  assert.deepEqual([redeemed.status, redeemed.json.userId], [200, 'carol'], redeemed.raw.toString());
});

test('npm run user-token signs with the first secret; bad arguments exit 2', async () => {
  const run = promisify(execFile);
  const cli = ['--import', 'tsx', 'cli/user-token.ts'];
  const opts = { cwd: new URL('../..', import.meta.url).pathname, env: { ...process.env, USER_TOKEN_SECRETS: SECRET } };
  const { stdout } = await run(process.execPath, [...cli, 'carol', '--ttl', '60'], opts);
  const [, payload] = stdout.trim().split('.');
  assert.equal(JSON.parse(Buffer.from(payload!, 'base64url').toString()).sub, 'carol');
  await assert.rejects(run(process.execPath, [...cli, 'bad user'], opts), (e: { code?: number; stderr?: string }) =>
    e.code === 2 && /usage/.test(e.stderr ?? ''));
});

/**
 * The operator console (GET /console) in a real headless Chromium driven by puppeteer-core: a
 * wrong token brings the token form back with the API's error; the right one shows the
 * templates; a template created through the form has its issued / remaining / claims/s move
 * under a short burst of claims (the DOM checked against the API); pause and resume through the
 * page change what claims get; a top-up and a grant go through; the page keeps no markup from
 * data. The screenshot goes to reports/console.png: reports/ is gitignored and is where the
 * project's runs already leave their output (load test reports), regenerated on every run.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { ROOT } from '../../tools/harness/processes.ts';
import { testEnv } from '../../tools/harness/storage.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(ROOT, 'reports', 'console.png');
const env = testEnv();
const profile = join(ROOT, '.data', `chromium-${randomBytes(4).toString('hex')}`);
let stack: Stack;
let browser: Browser | undefined;
let page: Page;
const pageErrors: string[] = [];

before(async () => {
  stack = await openStack(env);
  mkdirSync(profile, { recursive: true });
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    // 'shell' is written as plain --headless; with executablePath set it chooses no other binary.
    headless: 'shell',
    userDataDir: profile,
    // The machine's network is closed: without these Chromium keeps calling out (updates, sync, QUIC probes).
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 1000 });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // Errors the page logs (a CSP refusal among them); the API's 4xx answers are expected, and logged as failed loads.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text()); });
});

after(async () => {
  const child = browser?.process();
  await Promise.race([browser?.close(), new Promise((r) => setTimeout(r, 3000))]).catch(() => undefined);
  // Still there after close (or close failed): killed by the handle this test holds.
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(profile, { recursive: true, force: true });
  await stack?.close();
});

const text = (selector: string) => page.$eval(selector, (el) => el.textContent ?? '');
const num = (s: string) => Number(s.replace(/,/g, ''));
const cell = (id: string, col: string) => text(`tr[data-id="${id}"] td.${col}`);
/** Waits until the cell's text passes `ok`; returns it. */
async function cellUntil(id: string, col: string, ok: (v: string) => boolean, ms = 8000): Promise<string> {
  const deadline = Date.now() + ms;
  let v = '';
  while (Date.now() < deadline) {
    v = await cell(id, col).catch(() => '');
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${id} ${col}: still ${JSON.stringify(v)} after ${ms} ms`);
}
const claim = (templateId: string, userId: string) =>
  http('POST', `${stack.gw.url}/v1/claim`, { templateId, userId, requestId: `r-${userId}` });
const stockOf = async (id: string) => (await http('GET', `${stack.gw.url}/v1/admin/templates/${id}`, undefined, ADMIN)).json.stock;

test('the console: token, create, live counters under load, pause, resume, top up, grant, screenshot', async () => {
  const hostile = '<img src=x id=injected>';
  await createTemplate(stack.gw.url, { id: 'console-a', name: hostile, type: 'direct', value: 100, totalStock: 5 });

  const shell = await page.goto(`${stack.gw.url}/console`);
  assert.equal(shell?.status(), 200);
  const h = shell!.headers();
  assert.equal(h['content-type'], 'text/html; charset=utf-8');
  assert.match(h['content-security-policy']!, /script-src 'self'/);
  assert.doesNotMatch(h['content-security-policy']!, /unsafe-inline/);
  const js = await http('GET', `${stack.gw.url}/console/console.js`);
  assert.deepEqual([js.status, js.headers['content-type'], js.headers['cache-control']], [200, 'text/javascript; charset=utf-8', 'no-cache']);

  // A wrong token: the API's 401 brings the form back with its code.
  await page.waitForSelector('#token-form', { visible: true });
  await page.type('#token', 'not-the-token');
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('#token-error', { visible: true });
  assert.match(await text('#token-error'), /^unauthorized: .*\(HTTP 401\)/);
  assert.equal(await page.$eval('#app', (el) => (el as HTMLElement).hidden), true);

  await page.type('#token', 'dev-admin-token');
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('tr[data-id="console-a"]', { visible: true });
  // Data is text, never markup.
  assert.equal(await cell('console-a', 'name'), hostile);
  assert.equal(await page.$('#injected'), null);

  // Create through the form.
  await page.type('#create-form input[name=id]', 'console-b');
  await page.type('#create-form input[name=name]', 'rain 5 off');
  await page.select('#create-form select[name=type]', 'direct');
  await page.type('#create-form input[name=value]', '500');
  await page.type('#create-form input[name=totalStock]', '1000');
  await page.click('#create-form button[type=submit]');
  await page.waitForSelector('tr[data-id="console-b"]', { visible: true });
  assert.deepEqual(await stockOf('console-b'), { total: 1000, issued: 0, remaining: 1000 });
  assert.equal(num(await cellUntil('console-b', 'remaining', (v) => v === '1,000')), 1000);

  // The same id again: the API's error, with its code, is shown.
  await page.type('#create-form input[name=id]', 'console-b');
  await page.type('#create-form input[name=name]', 'again');
  await page.type('#create-form input[name=value]', '500');
  await page.type('#create-form input[name=totalStock]', '10');
  await page.click('#create-form button[type=submit]');
  await page.waitForFunction(() => /template_exists/.test(document.getElementById('message')?.textContent ?? ''), { timeout: 5000 });
  assert.match(await text('#message'), /^create failed: template_exists: .*\(HTTP 409\)/);

  // A short burst: 300 claims, 20 at a time, watched from the page while it runs.
  const seen: number[] = [];
  let burstDone = false;
  const watcher = (async () => {
    while (!burstDone) {
      seen.push(num(await cell('console-b', 'issued')));
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  let next = 0;
  const statuses = new Map<number, number>();
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (next < 300) {
      const r = await claim('console-b', `u${next++}`);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
  }));
  assert.deepEqual([...statuses], [[200, 300]]);
  // The burst takes well under a second: for a few seconds all 300 are in the 5-second rate window.
  await cellUntil('console-b', 'rate', (v) => v === '60.0');
  assert.equal(await text('#rate-now'), '60.0');
  await cellUntil('console-b', 'issued', (v) => v === '300');
  burstDone = true;
  await watcher;
  assert.deepEqual(await stockOf('console-b'), { total: 1000, issued: 300, remaining: 700 });
  assert.equal(num(await cell('console-b', 'remaining')), 700);
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'issued never goes back');
  // The chart drew a sample above zero (y < the axis at 190).
  const ys = await page.$eval('#chart-line', (el) => (el.getAttribute('points') ?? '').split(' ').map((p) => Number(p.split(',')[1])));
  assert.ok(ys.some((y) => y < 190), `chart points ${ys.join(' ')}`);

  // Pause through the page: the API refuses claims with `paused`; resume lets them in again.
  await page.click('tr[data-id="console-b"] button.toggle');
  await cellUntil('console-b', 'status', (v) => v === 'paused');
  const refused = await claim('console-b', 'after-pause');
  assert.deepEqual([refused.status, refused.json.status], [403, 'paused']);
  assert.equal(await cell('console-b', 'actions button.toggle'), 'Resume');
  await page.click('tr[data-id="console-b"] button.toggle');
  await cellUntil('console-b', 'status', (v) => v === 'active');
  assert.equal((await claim('console-b', 'after-resume')).status, 200);

  // Top up 50, with the request id the page shows.
  await page.click('tr[data-id="console-b"] button.manage');
  await page.type('#topup-add', '50');
  await page.click('#topup-form button[type=submit]');
  await page.waitForFunction(() => /added 50/.test(document.getElementById('message')?.textContent ?? ''), { timeout: 5000 });
  const requestId = await text('#topup-request-id');
  assert.match(requestId, /^console-[0-9a-z]+-[0-9a-f]{8}$/);
  assert.ok((await text('#message')).includes(`request ${requestId}`));
  await cellUntil('console-b', 'total', (v) => v === '1,050');
  assert.deepEqual(await stockOf('console-b'), { total: 1050, issued: 301, remaining: 749 });
  assert.equal(num(await cellUntil('console-b', 'remaining', (v) => v === '749')), 749);

  // A grant of three users, started from the page.
  await page.type('#grant-users', 'g1\ng2\ng3');
  await page.click('#grant-form button[type=submit]');
  await page.waitForFunction(() => /^grant \S+ started: 3 users$/.test(document.getElementById('message')?.textContent ?? ''), { timeout: 5000 });
  const grantId = /^grant (\S+) started/.exec(await text('#message'))![1]!;
  const g = await http('GET', `${stack.gw.url}/v1/admin/grants/${grantId}`, undefined, ADMIN);
  assert.deepEqual([g.status, g.json.templateId, g.json.total], [200, 'console-b', 3]);
  assert.match(await text('#grant-status'), new RegExp(`^grant ${grantId} \\(console-b\\): `));

  mkdirSync(join(ROOT, 'reports'), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.deepEqual(pageErrors, []);
});

test('GET /v1/admin/overview: one page with stock and rates; bounded, validated, behind the token', async () => {
  const get = (q: string, headers: Record<string, string> = ADMIN) => http('GET', `${stack.gw.url}/v1/admin/overview${q}`, undefined, headers);
  // Ids after every other test's, so the pages below hold only these.
  for (const id of ['zz-ov-1', 'zz-ov-2']) await createTemplate(stack.gw.url, { id, name: id, type: 'direct', value: 1, totalStock: 7 });
  for (const u of ['v1', 'v2']) assert.equal((await claim('zz-ov-2', u)).status, 200);
  const first = await get('?after=zz-ov-0&limit=1');
  assert.equal(first.status, 200);
  assert.deepEqual([first.json.templates.map((t: { id: string }) => t.id), first.json.next], [['zz-ov-1'], 'zz-ov-1']);
  const rest = await get(`?after=${first.json.next}&status=active`);
  assert.deepEqual([rest.json.next, rest.json.rateWindowSeconds], [null, 5]);
  assert.deepEqual(rest.json.templates, [{
    id: 'zz-ov-2', name: 'zz-ov-2', type: 'direct', status: 'active', version: 1, total: 7, issued: 2, remaining: 5,
    claimsPerSecond: rest.json.templates[0].claimsPerSecond, issuedPerSecond: rest.json.templates[0].issuedPerSecond,
  }]);
  assert.equal((await get('?after=zz-ov-0&status=paused')).json.templates.length, 0);
  // Two claims in the last 5 whole seconds once the gateway has flushed both (maybe in two flushes): 0.4/s.
  let rates: unknown;
  for (let i = 0; i < 40; i++) {
    const t = (await get('?after=zz-ov-1')).json.templates[0];
    rates = [t.claimsPerSecond, t.issuedPerSecond];
    if (t.claimsPerSecond >= 0.4) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(rates, [0.4, 0.4]);
  for (const [q, field] of [['?limit=51', 'limit'], ['?limit=0', 'limit'], ['?after=a%20b', 'after'], ['?status=gone', 'status'], ['?page=2', 'page']]) {
    const r = await get(q!);
    assert.equal(r.status, 400, q);
    assert.equal(r.json.error, 'bad_request');
    assert.ok(r.json.message.startsWith(`${field}:`), `${q}: ${r.json.message}`);
  }
  assert.equal((await get('', {})).json.error, 'unauthorized');
  assert.equal((await http('POST', `${stack.gw.url}/v1/admin/overview`, {}, ADMIN)).status, 405);
  assert.equal((await http('POST', `${stack.gw.url}/console`)).status, 405);
});

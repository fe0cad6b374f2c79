/**
 * The house the code lives in, checked from the real imports (issue 10): every folder imports
 * only folders below it, the two processes never import each other, nothing but the tests
 * imports test/, and no file can reach itself through its imports. Also every Lua script's
 * header names as many KEYS as its file name says.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;

// Lower first. A folder may import its own files and those of folders of a lower rank only;
// folders of one rank never import each other (the gateway and the sink above all).
const RANK: Readonly<Record<string, number>> = {
  config: 0,
  core: 1,
  lua: 2,
  templates: 3, redemption: 3,
  reconcile: 4, issuance: 4, checkout: 4,
  gateway: 5, sink: 5,
  cli: 6, tools: 6,
  loadtest: 7, capacity: 7, drill: 7, bench: 7,
  test: 8,
};

const SPEC = /(?:from\s+'|import\s*\(\s*'|import\s+')(\.{1,2}\/[^']+)'/g;

/** Every relative import of the repository's TypeScript files: file -> imported files (repo paths). */
function importGraph(): Map<string, string[]> {
  const files = execFileSync('git', ['ls-files', '*.ts'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n');
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const text = readFileSync(resolve(ROOT, f), 'utf8');
    graph.set(f, [...text.matchAll(SPEC)].map((m) => relative(ROOT, resolve(ROOT, dirname(f), m[1]!))));
  }
  return graph;
}

const folder = (f: string) => f.split('/')[0]!;

test('every folder has a rank, and imports only its own files and folders below it', () => {
  const graph = importGraph();
  const wrong: string[] = [];
  for (const [from, targets] of graph) {
    const a = folder(from);
    assert.ok(a in RANK, `${from}: folder ${a} has no rank in this test; give it one (where does it sit?)`);
    for (const to of targets) {
      const b = folder(to);
      assert.ok(b in RANK, `${from} imports ${to}: folder ${b} has no rank`);
      if (a !== b && RANK[b]! >= RANK[a]!) wrong.push(`${from} -> ${to}`);
    }
  }
  assert.deepEqual(wrong, [], 'imports that point sideways or up');
});

test('nothing outside test/ imports test/', () => {
  const graph = importGraph();
  const wrong = [...graph].flatMap(([from, targets]) => (folder(from) === 'test' ? [] : targets.filter((t) => folder(t) === 'test').map((t) => `${from} -> ${t}`)));
  assert.deepEqual(wrong, []);
});

test('no file reaches itself through its imports (type imports included)', () => {
  const graph = importGraph();
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]) => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
      return;
    }
    state.set(f, 'open');
    for (const t of graph.get(f) ?? []) visit(t, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
  assert.deepEqual(cycles, []);
});

test('the walker sees the imports it judges (a file known to import lua/keys.ts)', () => {
  assert.ok(importGraph().get('gateway/claim/service.ts')?.includes('lua/keys.ts'));
});

test('every lua/<command>-<N>.lua starts with #!lua and its header names exactly KEYS[1..N]; -n.lua: variable, named from 1', () => {
  const files = execFileSync('git', ['ls-files', 'lua/*.lua'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n')
    .filter((f) => !f.startsWith('lua/includes/'));
  assert.ok(files.length >= 15, `only ${files.length} scripts found`);
  for (const f of files) {
    const m = /-(\d+|n)\.lua$/.exec(f)?.[1];
    assert.ok(m !== undefined, `${f}: the file name must end in -<number of keys>.lua, or -n.lua for a variable number`);
    const text = readFileSync(resolve(ROOT, f), 'utf8');
    assert.ok(text.startsWith('#!lua'), `${f} must start with #!lua`);
    const header = /--\[\[([\s\S]*?)\]\]/.exec(text)?.[1] ?? '';
    const named = [...new Set([...header.matchAll(/KEYS\[(\d+)\]/g)].map((k) => Number(k[1])))].sort((x, y) => x - y);
    if (m === 'n') {
      assert.ok(named.length > 0 && /number of keys is variable/.test(header.replace(/\s+/g, ' ')), `${f}: header must say the number of keys is variable`);
      assert.deepEqual(named, Array.from({ length: named.length }, (_, i) => i + 1), `${f}: header KEYS`);
    } else {
      assert.deepEqual(named, Array.from({ length: Number(m) }, (_, i) => i + 1), `${f}: header KEYS`);
    }
  }
});

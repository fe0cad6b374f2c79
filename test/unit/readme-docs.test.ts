/**
 * The README keeps its promises to a newcomer (issue 14, item 10): every dependency of
 * package.json is named, with why, under "Dependencies"; every relative link of the README and
 * docs/ points at a file that exists.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../../tools/harness/processes.ts';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The text of the README section under `## title`, up to the next `## `. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has a "## ${title}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

test('every package.json dependency is named in the README\'s Dependencies section', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
  const deps = section('Dependencies');
  const names = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];
  const missing = names.filter((n) => !deps.includes(`\`${n}\``));
  assert.deepEqual(missing, [], 'add a row (the package and why) to README "Dependencies"');
});

test('the first screen is the two commands, and Operating it names each tool', () => {
  const firstScreen = readme.split('\n').slice(0, 15).join('\n');
  assert.match(firstScreen, /^make run\b/m);
  assert.match(firstScreen, /^make test\b/m);
  const ops = section('Operating it');
  for (const word of ['Metrics', 'Dashboard', 'Console', 'CLI', 'Logs']) assert.match(ops, new RegExp(`\\*\\*${word}`), word);
});

test('relative links of the README and docs/ resolve to files', () => {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const broken: string[] = [];
  for (const f of files) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:|#)/.test(target!)) continue;
      const path = target!.split('#')[0]!;
      if (!existsSync(join(ROOT, dirname(f), path))) broken.push(`${f}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});

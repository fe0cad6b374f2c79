/** The README's configuration table is the one the declarations generate, listing every setting. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SETTINGS } from '../../config/parse.ts';
import { markdownTable, readmeTable } from '../../config/table.ts';

test('the README table between the config markers is the generated one', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const table = readmeTable(readme);
  assert.ok(table !== undefined, 'README.md lacks the <!-- config:begin --> / <!-- config:end --> markers');
  assert.ok(table === markdownTable(),
    'README.md\'s configuration table differs from the settings declared in config/: run `npm run config -- --write-readme`');
  for (const name of Object.keys(SETTINGS)) assert.ok(table.includes(`| \`${name}\` |`), name);
});

/**
 * `npm run config [-- --json | --markdown | --write-readme]`: every setting with its effective
 * value (secrets hidden), its source (env or default) and why; exits 1 listing every bad
 * variable when the environment is refused. --markdown prints the README's table and
 * --write-readme puts it between the README's config markers.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../config/parse.ts';
import { markdownTable, settingRows, textTable, withReadmeTable } from '../config/table.ts';
import { cliProgram } from './command-line.ts';

const README = new URL('../README.md', import.meta.url);

const opts = cliProgram('config', 'Every setting: its effective value (secrets hidden), where it came from, and why.')
  .option('--json', 'print the rows as JSON', false)
  .option('--markdown', 'print the README table of every declared variable (no environment read)', false)
  .option('--write-readme', 'write that table into README.md between its config markers', false)
  .parse()
  .opts<{ json: boolean; markdown: boolean; writeReadme: boolean }>();

try {
  if (opts.markdown) console.log(markdownTable());
  else if (opts.writeReadme) writeFileSync(README, withReadmeTable(readFileSync(README, 'utf8')));
  else {
    const rows = settingRows(process.env);
    console.log(opts.json ? JSON.stringify(rows, null, 2) : textTable(rows));
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `config: ${(err as Error).message}`);
  process.exit(1);
}

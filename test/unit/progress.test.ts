/**
 * The shared progress bar (cli/progress.ts): nothing at all on a stream that is not a terminal
 * (tests, CI, a redirected run), a bar with the counts on one that is.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { progressBar } from '../../cli/progress.ts';

/** A stream that keeps what is written, seen as a terminal or not. */
function sink(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const w = new Writable({ write: (chunk, _enc, done) => { text += String(chunk); done(); } });
  Object.assign(w, { isTTY, columns: 120 });
  return { stream: w as unknown as NodeJS.WriteStream, text: () => text };
}

test('not a TTY: the bar writes nothing, its log lines are plain', () => {
  const s = sink(false);
  const p = progressBar('rebuild', 10, 'templates', s.stream);
  p.update(3, { detail: 'x' });
  p.update(10, { total: 10 });
  p.stop();
  assert.equal(p.shown, false);
  assert.equal(s.text(), '');
  p.log('rebuild: waiting for the sink');
  assert.equal(s.text(), 'rebuild: waiting for the sink\n');
});

test('a TTY: the bar shows the counts and the unit', () => {
  const s = sink(true);
  const p = progressBar('rebuild', 10, 'templates', s.stream);
  p.update(4, { detail: 'tpl-4' });
  p.stop();
  assert.equal(p.shown, true);
  assert.match(s.text(), /rebuild \[[^\]]*\] +\d+% \d+\/10 templates/);
});

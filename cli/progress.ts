/**
 * One progress bar for a long job (cli-progress), drawn on stderr only when stderr is a terminal:
 * tests, CI and redirected runs see nothing of it, and keep the plain lines the tools print.
 */
import { SingleBar } from 'cli-progress';

/** A job's bar; `shown` false means nothing is drawn and the caller prints its plain lines. */
export interface Progress {
  readonly shown: boolean;
  /** Sets the count done, and optionally the total and the text after the counts. */
  update(done: number, info?: { total?: number; detail?: string }): void;
  /** Writes a line of the job to the bar's stream, above the bar when it is shown. */
  log(line: string): void;
  /** Removes the bar's line, so what follows starts on a clean line. */
  stop(): void;
}

/** A bar `label [####....] 42% done/total unit detail`, or a silent one when `stream` is not a TTY. */
export function progressBar(label: string, total: number, unit: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { shown: false, update: () => undefined, log: (line) => void stream.write(`${line}\n`), stop: () => undefined };
  // cli-progress saves the cursor when a bar starts and restores it when it stops; lines the job
  // printed meanwhile scrolled the screen, and the restore would jump back over them. The bar
  // writes through this view of the stream, which drops the save and the restore.
  const view = Object.create(stream, {
    write: { value: (s: string, ...rest: unknown[]) => (s === '\x1b7' || s === '\x1b8' ? true : (stream.write as (...a: unknown[]) => boolean)(s, ...rest)) },
  }) as NodeJS.WriteStream;
  const bar = new SingleBar({
    stream: view, format: `${label} [{bar}] {percentage}% {value}/{total} ${unit} {detail}`, barsize: 30,
    // redrawn on every tick even when unchanged: a line the job prints over the bar would hide it.
    forceRedraw: true, clearOnComplete: true,
    // no SIGINT handler of its own (it would keep Ctrl-C from ending the job), so no terminal mode
    // to restore: the cursor stays visible and wrapping on (`linewrap: true` still cuts the bar to the width).
    hideCursor: false, gracefulExit: false, linewrap: true,
  });
  bar.start(Math.max(0, total), 0, { detail: '' });
  // A line printed to the same terminal would land after the bar's text: clear the bar's line
  // first; the next tick draws the bar again below the printed line.
  const out = process.stdout;
  const write = out.write;
  const clearing = out.isTTY && stream !== out;
  if (clearing) {
    out.write = function (this: NodeJS.WriteStream, ...args: Parameters<typeof write>) {
      stream.write('\r\x1b[K');
      return write.apply(this, args);
    } as typeof write;
  }
  let stopped = false;
  return {
    shown: true,
    update: (done, info = {}) => {
      if (info.total !== undefined) bar.setTotal(Math.max(0, info.total));
      bar.update(done, info.detail === undefined ? {} : { detail: info.detail });
    },
    log: (line) => void stream.write(`\r\x1b[K${line}\n`),
    stop: () => {
      if (stopped) return;
      stopped = true;
      bar.stop();
      if (clearing) out.write = write;
    },
  };
}

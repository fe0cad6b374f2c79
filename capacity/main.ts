/**
 * `npm run capacity -- plan|calibrate ...`: how many gateway processes, Redis shards, MySQL
 * masters ... a claim rate needs (plan), and this machine's real ceilings (calibrate).
 * Bad input exits 2 with a message; a failed calibration exits 1.
 */
import { CalibrationError, measuredSet, readCalibration } from './calibration-file.ts';
import { type ColumnPlan, figuresAt, planColumn, REFERENCE_FIGURES, SOURCE_FIGURES } from './model.ts';
import { type CalibrateOptions, parseCommand, type PlanOptions, usage, UsageError } from './options.ts';
import { renderPlan, renderScaleOut } from './render.ts';
import { planScaleOut, type ScaleOutPlan } from './scale-out.ts';
import { scaleOutInput } from './scale-out-input.ts';
import { initLog } from '../core/log.ts';

// Lines of the libraries it runs (storage retries, the sink's writer) say they are the capacity tool's.
initLog('capacity');

/** Source designs, ours on the reference figures, and ours on this machine's if calibrated. */
function plan(o: PlanOptions): void {
  const columns: ColumnPlan[] = [
    planColumn('source', o.traffic, SOURCE_FIGURES),
    planColumn('ours', o.traffic, figuresAt(REFERENCE_FIGURES, o.overrides)),
  ];
  let calibration: { file: string; date: string } | undefined;
  // with a calibration: the scale-out section, or why there is none.
  let scaleOut: ScaleOutPlan | string | undefined;
  if (o.calibration !== undefined) {
    const c = readCalibration(o.calibration);
    const measured = planColumn('ours', o.traffic, figuresAt(measuredSet(c), o.overrides));
    columns.push(measured);
    calibration = { file: o.calibration, date: c.date };
    const input = scaleOutInput(c, measured, o.traffic.qps, o.traffic.headroom, o.scaleOut);
    scaleOut = typeof input === 'string' ? input : planScaleOut(input);
  }
  if (o.json) {
    console.log(JSON.stringify({ traffic: o.traffic, overrides: o.overrides, calibration, columns, scaleOut }, null, 2));
  } else {
    console.log(renderPlan(o.traffic, columns));
    if (typeof scaleOut === 'string') console.log(`\nScaled out: no figures (${scaleOut})`);
    else if (scaleOut) console.log(`\n${renderScaleOut(scaleOut, o.traffic.headroom)}`);
  }
}

async function calibrate(o: CalibrateOptions): Promise<void> {
  // loaded only here: `plan` needs no Redis, MySQL or autocannon.
  const { runCalibration } = await import('./calibrate.ts');
  process.exitCode = await runCalibration(o, process.argv.slice(2));
}

function fail(message: string, withUsage: boolean): never {
  console.error(`capacity: ${message}${withUsage ? `\n\n${usage()}` : ''}`);
  process.exit(2);
}

async function main(): Promise<void> {
  let command;
  try {
    command = parseCommand(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) fail(err.message, true);
    throw err;
  }
  if (command.cmd === 'help') {
    console.log(command.text);
    return;
  }
  if (command.cmd === 'calibrate') return calibrate(command.o);
  try {
    plan(command.o);
  } catch (err) {
    // a figure that makes no sense (from the flags or the file) is bad input, not a crash.
    if (err instanceof RangeError || err instanceof CalibrationError) fail(err.message, false);
    throw err;
  }
}

main().catch((err: unknown) => {
  console.error('capacity: failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});

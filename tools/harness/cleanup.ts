/**
 * Cleanup steps registered as resources are created, run once in reverse order: at the end of a
 * normal run, after a failure, or on Ctrl-C. A failing step does not stop the others.
 */
const steps: { name: string; fn: () => Promise<void> }[] = [];
let running: Promise<string[]> | undefined;

/** Registers a step; returns a function that runs it now (once) and unregisters it. */
export function onCleanup(name: string, fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  const step = { name, fn: () => (done ??= fn()) };
  steps.push(step);
  return async () => {
    const i = steps.indexOf(step);
    if (i >= 0) steps.splice(i, 1);
    await step.fn();
  };
}

/**
 * Runs every registered step (newest first), each bounded by `stepTimeoutMs`; returns failures.
 * Concurrent calls (end of a section racing Ctrl-C) share one pass.
 */
export function runCleanup(stepTimeoutMs = 20_000): Promise<string[]> {
  return (running ??= (async () => {
    const failures: string[] = [];
    while (steps.length > 0) {
      const step = steps.pop()!;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([step.fn(), new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${stepTimeoutMs} ms`)), stepTimeoutMs);
        })]);
      } catch (err) {
        failures.push(`cleanup ${step.name}: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
    return failures;
  })().finally(() => { running = undefined; }));
}

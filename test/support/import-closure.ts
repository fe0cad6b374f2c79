/** The source files a TypeScript entry loads, following its relative imports (type-only ones too). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Paths (relative to the repository root) of `entries` and every file they import, transitively. */
export function importClosure(entries: readonly string[]): string[] {
  const seen = new Set<string>();
  const todo = entries.map((e) => resolve(ROOT, e));
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = resolve(dirname(file), m[1]!);
      if (!existsSync(target)) throw new Error(`${relative(ROOT, file)} imports ${m[1]}, which does not exist`);
      todo.push(target);
    }
  }
  return [...seen].map((f) => relative(ROOT, f)).sort();
}

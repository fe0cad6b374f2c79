/**
 * A strict reader of the plain YAML that ops/prometheus/alerts.yml and docker-compose.yml keep to
 * (no YAML library is a dependency, and two tests do not need one): block mappings, lists of
 * mappings or of scalars, plain or double-quoted scalars, `|` and `>-` block scalars, full-line
 * comments. Anything else throws rather than being read differently from a real YAML parser (a
 * plain scalar with ": " or " #", anchors, flow collections, tabs, duplicate keys). Every scalar
 * is a string.
 */

/** A value of the subset. */
export type YamlNode = string | YamlNode[] | { [key: string]: YamlNode };

const indentOf = (line: string) => line.length - line.trimStart().length;
const blank = (line: string) => /^\s*(#.*)?$/.test(line);

/** Parses `src`; throws naming the line of the first thing outside the subset. */
export function parseYamlSubset(src: string): YamlNode {
  const lines = src.split('\n');
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`yaml line ${i + 1}: ${why}: ${JSON.stringify(lines[i] ?? '')}`);
  };
  /** The next line that is not blank or a comment, without consuming it. */
  const peek = (): { indent: number; text: string } | undefined => {
    while (i < lines.length && blank(lines[i]!)) i++;
    if (i === lines.length) return undefined;
    if (/^\s*\t/.test(lines[i]!)) fail('tab in indentation');
    return { indent: indentOf(lines[i]!), text: lines[i]!.trim() };
  };
  const scalar = (s: string): string => {
    if (s.startsWith('"')) {
      if (!/^"(?:[^"\\]|\\.)*"$/.test(s)) fail('unterminated or trailing text after a quoted scalar');
      return JSON.parse(s) as string;
    }
    if (/^['{[&*!|>%@`-]/.test(s) || /: | #|:$/.test(s)) fail('plain scalar a YAML parser would read differently');
    return s;
  };
  const blockScalar = (parent: number, style: string): string => {
    const body: string[] = [];
    while (i < lines.length && (lines[i]!.trim() === '' || indentOf(lines[i]!) > parent)) body.push(lines[i++]!);
    while (body.length > 0 && body.at(-1)!.trim() === '') body.pop();
    if (body.length === 0) fail('empty block scalar');
    const at = indentOf(body[0]!);
    if (body.some((l) => l.trim() !== '' && indentOf(l) < at)) fail('block scalar less indented than its first line');
    const text = body.map((l) => l.slice(at));
    if (style.startsWith('|')) return text.join('\n') + (style === '|' ? '\n' : '');
    if (style !== '>-' || text.some((l) => l.trim() === '' || l.startsWith(' '))) fail('only `|`, `|-` and a `>-` of plain lines');
    return text.join(' ');
  };
  const map = (indent: number): YamlNode => {
    const out: Record<string, YamlNode> = {};
    for (let l = peek(); l && l.indent === indent; l = peek()) {
      const m = /^([A-Za-z_][\w.-]*):(?: (.*))?$/.exec(l.text) ?? fail('expected "key: value"');
      const [, key, rest] = m;
      if (Object.hasOwn(out, key!)) fail(`duplicate key ${key}`);
      i++;
      if (rest === undefined || rest.trim() === '') {
        const next = peek();
        if (!next || next.indent <= indent) fail(`key ${key} has no value`);
        out[key!] = node(next!.indent);
      } else {
        out[key!] = /^[|>]-?$/.test(rest) ? blockScalar(indent, rest) : scalar(rest);
      }
    }
    return out;
  };
  const list = (indent: number): YamlNode => {
    const out: YamlNode[] = [];
    for (let l = peek(); l && l.indent === indent && l.text.startsWith('- '); l = peek()) {
      const item = l.text.slice(2);
      if (!/^[A-Za-z_][\w.-]*:(?: |$)/.test(item)) {
        out.push(scalar(item));
        i++;
        continue;
      }
      // The item's first line becomes the first line of a mapping two columns further in.
      lines[i] = ' '.repeat(indent + 2) + item;
      out.push(map(indent + 2));
    }
    return out;
  };
  const node = (indent: number): YamlNode => {
    const l = peek()!;
    const value = l.text.startsWith('- ') ? list(indent) : map(indent);
    const after = peek();
    if (after && after.indent > indent) fail('unexpected indentation');
    return value;
  };
  if (peek()?.indent !== 0) fail('the document must start at column 0');
  const doc = node(0);
  if (peek()) fail('unexpected text after the document');
  return doc;
}

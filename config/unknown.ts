/**
 * Refusal of unknown variables of the project's own names: a variable whose first word is the
 * first word of a declared setting (SINK_, REDIS_, MYSQL_, ADMIN_, GATEWAY_, ...) but which is
 * not itself declared is a typo until proven otherwise (SINK_BATCH_MAX_ROW would otherwise be
 * ignored and the default used without a word).
 */
import type { Env } from './schema.ts';

// First words that other software uses too, so they are no claim to a variable: platforms set
// APP_*, database tools DB_*, test runners TEST_*, shells USER and friends; LOG_DIR is a Makefile
// variable; KEY_, MAX_, DEFAULT_ and ALLOW_ name nothing of ours. Their settings (APP_ENV,
// DB_PREFIX, TEST_REDIS_CLUSTER_NODES, USER_TOKEN_SECRETS, LOG_LEVEL, KEY_PREFIX, MAX_BODY_BYTES,
// DEFAULT_VALID_DAYS, ALLOW_UWS_FALLBACK) still parse; a typo of them is not caught.
const GENERIC_WORDS: ReadonlySet<string> = new Set(['APP', 'DB', 'TEST', 'USER', 'LOG', 'KEY', 'MAX', 'DEFAULT', 'ALLOW']);

// Variables of our own tooling that the processes legitimately receive but do not read.
const NOT_SETTINGS: ReadonlySet<string> = new Set([
  // the Makefile exports them (for scripts/services.sh) to every command it runs, the app included.
  'REDIS_PORT', 'MYSQL_PORT',
  // scripts/services.sh reads them from the environment of `make run`, whose app inherits it.
  'REDIS_APPENDFSYNC', 'MYSQL_SOCKET',
  // the mysql/mariadb command-line clients read these; an operator's shell may well export them.
  'MYSQL_PWD', 'MYSQL_HOST', 'MYSQL_TCP_PORT', 'MYSQL_UNIX_PORT', 'MYSQL_HOME', 'MYSQL_HISTFILE', 'MYSQL_PS1',
  'MYSQL_TEST_LOGIN_FILE', 'MYSQL_DEBUG', 'MYSQL_GROUP_SUFFIX',
]);

// Kubernetes gives every pod variables of each service: a service named "redis" or "sink" sets
// REDIS_SERVICE_HOST, REDIS_PORT_6379_TCP_ADDR, SINK_PORT=tcp://..., and so on.
const SERVICE_LINK = /_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)$/;
const SERVICE_PORT_VALUE = /^(tcp|udp|sctp):\/\//;

/** An environment variable that looks like one of ours but is not declared. */
export interface UnknownVariable {
  readonly name: string;
  /** The declared name it is closest to, when close enough to be the meant one. */
  readonly suggestion?: string;
}

/** The first words of the declared names that count as the project's own. */
export function projectPrefixes(declared: readonly string[]): ReadonlySet<string> {
  const words = new Set<string>();
  for (const name of declared) {
    const i = name.indexOf('_');
    if (i > 0 && !GENERIC_WORDS.has(name.slice(0, i))) words.add(name.slice(0, i + 1));
  }
  return words;
}

/** Every variable of `env` with a project prefix that is not declared, each with a suggestion. */
export function unknownVariables(env: Env, declared: ReadonlySet<string>, prefixes: ReadonlySet<string>): UnknownVariable[] {
  const found: UnknownVariable[] = [];
  for (const name of Object.keys(env)) {
    const i = name.indexOf('_');
    if (i <= 0 || !prefixes.has(name.slice(0, i + 1)) || declared.has(name) || NOT_SETTINGS.has(name)) continue;
    if (SERVICE_LINK.test(name) || (name.endsWith('_PORT') && SERVICE_PORT_VALUE.test(env[name] ?? ''))) continue;
    found.push({ name, suggestion: nearest(name, declared) });
  }
  return found;
}

/**
 * The declared name within a few edits of `name` (about a third of its length), or one that
 * `name` is the start of (GRANT_RATE -> GRANT_RATE_DEFAULT), if any.
 */
function nearest(name: string, declared: ReadonlySet<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const d of declared) {
    const distance = d.startsWith(`${name}_`) ? 1 : editDistance(name, d);
    if (distance < bestDistance) [best, bestDistance] = [d, distance];
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

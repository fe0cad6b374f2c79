/**
 * Reads docker-compose.yml the way `docker compose` would for the checks of
 * test/system/compose-file.test.ts: variable interpolation, what each service runs, the ports it
 * listens on and publishes. This machine has no Docker engine, so the file is checked, not run.
 */
import { readFileSync } from 'node:fs';
import { parseYamlSubset, type YamlNode } from './yaml-subset.ts';

const ROOT = new URL('../../', import.meta.url);

/** A service of the compose file, with the fields the checks read. */
export interface Service {
  readonly name: string;
  readonly image?: string;
  readonly build?: string;
  readonly profiles?: string[];
  readonly command?: string[];
  readonly entrypoint?: string[];
  readonly environment?: Record<string, string>;
  readonly ports?: string[];
  readonly volumes?: string[];
  readonly depends_on?: Record<string, { condition: string }>;
  readonly healthcheck?: { test: string[] };
  readonly [key: string]: unknown;
}

/** The services of docker-compose.yml, by name (uninterpolated). */
export function composeServices(file = 'docker-compose.yml'): Map<string, Service> {
  const doc = parseYamlSubset(readFileSync(new URL(file, ROOT), 'utf8')) as { services: Record<string, YamlNode> };
  return new Map(Object.entries(doc.services).map(([name, s]) => [name, { name, ...(s as object) } as Service]));
}

/**
 * `value` with compose's interpolation applied: `$$` is a dollar, `${V}`/`$V` the variable,
 * `${V:-d}`/`${V-d}` with a default, `${V:?msg}`/`${V?msg}` refused when unset (with `:` also when
 * empty). Throws with compose's message for a refused variable or a syntax compose would reject.
 */
export function interpolate(value: string, vars: Readonly<Record<string, string | undefined>>): string {
  return value.replace(/\$(?:\$|\{([A-Za-z_]\w*)(?:(:?)([-?])([^}]*))?\}|([A-Za-z_]\w*)|)/g,
    (all, name?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
      if (all === '$$') return '$';
      if (bare !== undefined) return vars[bare] ?? '';
      if (name === undefined) throw new Error(`invalid interpolation in ${JSON.stringify(value)}`);
      const v = vars[name];
      const missing = v === undefined || (colon === ':' && v === '');
      if (op === '?' && missing) throw new Error(`required variable ${name} is missing a value: ${arg}`);
      if (op === '-' && missing) return arg!;
      return v ?? '';
    });
}

/** The service's environment after interpolation with `vars`. */
export function serviceEnv(s: Service, vars: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(v, vars)]));
}

/**
 * The TypeScript entry a service runs: `node --import tsx <file>` as written, or through the
 * package.json script of `npm run <script>`; undefined for a service that runs no app code.
 */
export function entryOf(s: Service, scripts: Readonly<Record<string, string>>): string | undefined {
  let argv = s.command ?? [];
  if (argv[0] === 'npm' && argv[1] === 'run' && argv.length === 3) {
    const script = scripts[argv[2]!];
    if (script === undefined) throw new Error(`${s.name}: package.json has no script ${argv[2]}`);
    argv = script.split(' ');
  }
  if (argv[0] !== 'node') return undefined;
  if (argv.length !== 4 || argv[1] !== '--import' || argv[2] !== 'tsx') throw new Error(`${s.name}: runs ${argv.join(' ')}, not node --import tsx <entry>`);
  return argv[3];
}

/** The value after `flag` in a service's command (redis-server --port 7001: "7001"). */
export function flagValue(s: Service, flag: string): string | undefined {
  const argv = s.command ?? [];
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** The port a storage service listens on inside the compose network. */
export function storagePort(s: Service): number {
  const image = s.image ?? '';
  const port = flagValue(s, '--port');
  if (port !== undefined) return Number(port);
  if (image.startsWith('redis:')) return 6379;
  if (image.startsWith('mariadb:')) return 3306;
  throw new Error(`${s.name}: no known port for image ${image}`);
}

/** A `ports:` entry: [host ip,] host port, container port. */
export interface Published {
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerPort: number;
}

/** The service's published ports. */
export function publishedPorts(s: Service): Published[] {
  return (s.ports ?? []).map((p) => {
    const m = /^(?:(\d+\.\d+\.\d+\.\d+):)?(\d+):(\d+)$/.exec(p);
    if (!m) throw new Error(`${s.name}: unsupported ports entry ${p}`);
    return { hostIp: m[1] ?? '0.0.0.0', hostPort: Number(m[2]), containerPort: Number(m[3]) };
  });
}

/** The URL a `node -e fetch(...)` healthcheck probes (its last argument). */
export function healthcheckUrl(s: Service): URL | undefined {
  const t = s.healthcheck?.test ?? [];
  return t[0] === 'CMD' && t[1] === 'node' ? new URL(t.at(-1)!) : undefined;
}

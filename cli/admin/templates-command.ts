/** `templates list|show|create|pause|resume|topup|stats`: the everyday template actions of the admin API. */
import { randomBytes } from 'node:crypto';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { intArg } from '../command-line.ts';
import type { AdminClient } from './client.ts';
import { addTemplateFlags, templateBody } from './template-body.ts';
import { statsView, templateDetail, templateList, topupView } from './views.ts';

type Json = Record<string, any>;

// The API's largest page: fewest round trips for a full listing.
const PAGE = 200;
// The API's bound on one stock change.
const MAX_STOCK_CHANGE = 1_000_000_000;

const path = (id: string, tail = '') => `/v1/admin/templates/${encodeURIComponent(id)}${tail}`;

/** Prints the answer: itself with --json, else as `render` lays it out for people. */
function print(opts: { json?: boolean }, answer: unknown, render: () => string): void {
  console.log(opts.json ? JSON.stringify(answer, null, 2) : render());
}

/** Every page of the listing, in id order. */
async function listAll(client: AdminClient, status: string | undefined): Promise<Json[]> {
  const all: Json[] = [];
  let cursor: string | null | undefined;
  do {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (status) q.set('status', status);
    if (cursor) q.set('cursor', cursor);
    const page = await client.call('GET', `/v1/admin/templates?${q}`);
    all.push(...page.templates);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

/** A request id for a top-up that names none: printed, so a retry after a failure reuses it. */
const newRequestId = () => `cli-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

/** Adds the `templates` command to `program`; `client` is made on first use (the config is read then). */
export function addTemplatesCommand(program: Command, client: () => AdminClient): void {
  const templates = program.command('templates').description('list, show, create, pause, resume, top up templates and read their stats');
  const json = () => new Option('--json', 'print the API\'s JSON answer (for scripts)');

  templates.command('list').description('every template (all pages), ordered by id')
    .addOption(new Option('--status <status>', 'only active or paused ones').choices(['active', 'paused'])).addOption(json())
    .action(async (opts) => {
      const all = await listAll(client(), opts.status);
      print(opts, { templates: all }, () => templateList(all));
    });

  templates.command('show').description('a template and its live stock').argument('<id>', 'template id').addOption(json())
    .action(async (id: string, opts) => {
      const t = await client().call('GET', path(id));
      print(opts, t, () => templateDetail(t, t.stock));
    });

  addTemplateFlags(templates.command('create').description('a new template, from flags or --file').addOption(json()))
    .action(async (opts, cmd: Command) => {
      let body: Record<string, unknown>;
      try {
        body = templateBody(opts);
      } catch (err) {
        if (err instanceof InvalidArgumentError) cmd.error(err.message, { exitCode: 2 });
        throw err;
      }
      const t = await client().call('POST', '/v1/admin/templates', body);
      print(opts, t, () => `created ${t.id}\n\n${templateDetail(t)}`);
    });

  for (const [name, status, what] of [['pause', 'paused', 'stop claims (each gateway within a second)'], ['resume', 'active', 'let claims in again']] as const) {
    templates.command(name).description(what).argument('<id>', 'template id').addOption(json())
      .action(async (id: string, opts) => {
        const t = await client().call('PATCH', path(id), { status });
        print(opts, t, () => `${t.id}: ${t.status} (version ${t.version})`);
      });
  }

  templates.command('topup').description('add stock (a negative number, last and after --, reduces it); once per request id')
    .argument('<id>', 'template id').argument('<add>', 'coupons to add', intArg(-MAX_STOCK_CHANGE, MAX_STOCK_CHANGE))
    .option('--request-id <id>', 'the id of this change: a retry with the same id is applied once (default: a new one, printed)')
    .addOption(json())
    .action(async (id: string, add: number, opts) => {
      const requestId: string = opts.requestId ?? newRequestId();
      if (opts.requestId === undefined) console.error(`admin: request id ${requestId} (to retry: --request-id ${requestId})`);
      const r = await client().call('POST', path(id, '/stock'), { add, requestId });
      print(opts, r, () => topupView(r));
    });

  templates.command('stats').description('stock, claims per second and refusals').argument('<id>', 'template id').addOption(json())
    .action(async (id: string, opts) => {
      const s = await client().call('GET', path(id, '/stats'));
      print(opts, s, () => statsView(s));
    });
}

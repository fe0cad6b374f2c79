/** GET and PUT /v1/admin/blacklist: the global blacklist of categories and products. */
import { decodeBody, formatOf } from '../http/codec.ts';
import { orUnavailable } from '../../core/errors.ts';
import type { Credentials, Handler } from '../http/route.ts';
import type { BlacklistStore } from '../../templates/blacklist.ts';
import { parseBody } from '../../core/zod.ts';
import { blacklistSchema } from '../../templates/admin-bodies.ts';
import { distinct } from '../../templates/rule-fields.ts';

export interface BlacklistDeps {
  readonly blacklist: BlacklistStore;
  readonly auth: (req: Credentials) => void;
}

/** GET /v1/admin/blacklist */
export function getBlacklistHandler(d: BlacklistDeps): Handler {
  return async (req) => {
    d.auth(req);
    return { status: 200, body: await orUnavailable('mysql', () => d.blacklist.get()) };
  };
}

/** PUT /v1/admin/blacklist `{ categories?, products? }`: replaces the whole list. */
export function putBlacklistHandler(d: BlacklistDeps): Handler {
  return async (req) => {
    d.auth(req);
    const o = parseBody(blacklistSchema, decodeBody(req.body, formatOf(req.contentType, false)));
    const list = { categories: distinct(o.categories ?? []).sort(), products: distinct(o.products ?? []).sort() };
    await orUnavailable('mysql', () => d.blacklist.replace(list));
    return { status: 200, body: list };
  };
}

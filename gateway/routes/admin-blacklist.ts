/** GET and PUT /v1/admin/blacklist: the global blacklist of categories and products. */
import { decodeBody, formatOf } from '../http/codec.ts';
import { orUnavailable } from '../../core/errors.ts';
import type { Credentials, Handler } from '../http/route.ts';
import type { BlacklistStore } from '../../templates/blacklist.ts';
import { idList, object } from '../../templates/rule-fields.ts';

/** Most ids per part of the list: it is read by every checkout. */
const MAX_IDS = 10_000;
const FIELDS = new Set(['categories', 'products']);

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
    const o = object(decodeBody(req.body, formatOf(req.contentType, false)), FIELDS);
    const list = {
      categories: o.categories === undefined ? [] : idList(o.categories, 'categories', MAX_IDS).sort(),
      products: o.products === undefined ? [] : idList(o.products, 'products', MAX_IDS).sort(),
    };
    await orUnavailable('mysql', () => d.blacklist.replace(list));
    return { status: 200, body: list };
  };
}

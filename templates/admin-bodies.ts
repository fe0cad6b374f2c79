/** zod schemas of the template admin bodies besides create and change: stock changes and the global blacklist. */
import { idSchema, intSchema, z } from '../core/zod.ts';
import { idList } from './rule-fields.ts';
import { MAX_STOCK_CHANGE } from './stock.ts';

/** Most ids per part of the global blacklist: it is read by every checkout. */
export const BLACKLIST_MAX_IDS = 10_000;

/** POST /v1/admin/templates/{id}/stock: `add` coupons (negative to reduce), once per requestId. */
export const stockChangeSchema = z.strictObject({
  add: intSchema(-MAX_STOCK_CHANGE, MAX_STOCK_CHANGE, 'is required: the number of coupons to add (negative to reduce)')
    .refine((n) => n !== 0, 'must not be 0').openapi({ description: 'coupons to add; negative to reduce; not 0' }),
  requestId: idSchema.optional().openapi({ description: 'makes a retry a replay (default: generated, and returned)' }),
}).openapi('StockChange', { example: { add: 500, requestId: 'topup-1' } });

/** PUT /v1/admin/blacklist: the whole global blacklist (absent lists are empty). */
export const blacklistSchema = z.strictObject({
  categories: idList(BLACKLIST_MAX_IDS).optional(),
  products: idList(BLACKLIST_MAX_IDS).optional(),
}).openapi('Blacklist', { example: { categories: ['tobacco'], products: ['sku-1'] } });

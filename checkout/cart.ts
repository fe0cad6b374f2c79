/**
 * The cart an order service sends (to quote, or with a lock): parsed into a Cart or refused
 * with a 400 naming the field path. Any JSON value gets one of the two, never another error.
 */
import { isMap } from '../core/bodies.ts';
import { isId } from '../core/ids.ts';
import { bad } from '../templates/rule-fields.ts';
import type { Cart, CartItem } from './model.ts';

/** Most items one cart may hold: a quote walks every coupon over every item. */
export const MAX_CART_ITEMS = 200;
/** Most cents one unit may cost; with the quantity and item caps a cart total stays below 2^53. */
const MAX_PRICE = 1e9;
const MAX_QUANTITY = 10_000;

const CART_FIELDS = new Set(['userId', 'items']);
const ITEM_FIELDS = new Set(['productId', 'categoryId', 'price', 'quantity']);
const ID_RULE = 'must be 1-64 characters of [A-Za-z0-9_.:-]';

/** Throws unless `o` (named `path`) is a plain object with only `known` fields; `at` names a field's path. */
function fields(o: unknown, known: ReadonlySet<string>, path: string, at: (k: string) => string): Record<string, unknown> {
  if (!isMap(o)) bad(path, `must be an object with ${[...known].join(', ')}`);
  // Object.keys lists a JSON "__proto__" key too (JSON.parse makes it an own field), so it is refused here.
  for (const k of Object.keys(o)) if (!known.has(k)) bad(at(k), 'unknown field');
  return o;
}

/** The id at `o[k]`, or a 400 naming it. */
function id(o: Record<string, unknown>, k: string, path: string): string {
  const v = o[k];
  if (!isId(v)) bad(path, v === undefined ? `is required: ${ID_RULE}` : ID_RULE);
  return v;
}

/** The integer at `o[k]` within [min, max], or a 400 naming it. */
function int(o: Record<string, unknown>, k: string, path: string, min: number, max: number): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    bad(path, `${v === undefined ? 'is required: ' : ''}must be an integer between ${min} and ${max}`);
  }
  return v;
}

/** One cart line at `path`. */
function item(v: unknown, path: string): CartItem {
  const o = fields(v, ITEM_FIELDS, path, (k) => `${path}.${k}`);
  return {
    productId: id(o, 'productId', `${path}.productId`),
    categoryId: id(o, 'categoryId', `${path}.categoryId`),
    price: int(o, 'price', `${path}.price`, 0, MAX_PRICE),
    quantity: int(o, 'quantity', `${path}.quantity`, 1, MAX_QUANTITY),
  };
}

/**
 * Parses a cart `{ userId, items: [{ productId, categoryId, price, quantity }] }`; a 400 names
 * the bad field's path, under `field.` when the cart is nested in a body (e.g. `cart`).
 */
export function parseCart(v: unknown, field?: string): Cart {
  const at = (p: string) => (field === undefined ? p : `${field}.${p}`);
  const o = fields(v, CART_FIELDS, field ?? 'body', at);
  const userId = id(o, 'userId', at('userId'));
  const items = o.items;
  if (!Array.isArray(items) || items.length < 1 || items.length > MAX_CART_ITEMS) {
    bad(at('items'), `must be an array of 1-${MAX_CART_ITEMS} items`);
  }
  const lines: CartItem[] = [];
  // Indexed, not map(): map skips holes, and every line must be checked.
  for (let i = 0; i < items.length; i++) lines.push(item(items[i], at(`items[${i}]`)));
  return { userId, items: lines };
}

/** Sum of price × quantity over the cart's items, in cents (below 2^53 for any parsed cart). */
export function cartTotal(cart: Cart): number {
  let total = 0;
  for (const it of cart.items) total += it.price * it.quantity;
  return total;
}

/**
 * Where a coupon applies in a cart: the template's scope (empty include lists mean every
 * product) minus its excludes and the global blacklist, which win over the includes.
 */
import type { Scope } from '../templates/model.ts';
import type { Cart, CartItem, ItemBlacklist } from './model.ts';

interface ScopeSets {
  readonly all: boolean;
  readonly categories: ReadonlySet<string>;
  readonly products: ReadonlySet<string>;
  readonly excludeCategories: ReadonlySet<string>;
  readonly excludeProducts: ReadonlySet<string>;
}

// A scope list holds up to 1,000 ids and a quote checks every coupon against every item; the
// template cache hands out one Scope object per template version, so its sets are built once.
const setsOf = new WeakMap<Scope, ScopeSets>();

/** The scope's lists as sets (cached per Scope object). */
function sets(scope: Scope): ScopeSets {
  let s = setsOf.get(scope);
  if (s === undefined) {
    s = {
      all: scope.categories.length === 0 && scope.products.length === 0,
      categories: new Set(scope.categories), products: new Set(scope.products),
      excludeCategories: new Set(scope.excludeCategories), excludeProducts: new Set(scope.excludeProducts),
    };
    setsOf.set(scope, s);
  }
  return s;
}

/** Whether a coupon of `scope` applies to `item`: included, and neither excluded nor blacklisted. */
function appliesToItem(scope: Scope, blacklist: ItemBlacklist, item: CartItem): boolean {
  const s = sets(scope);
  if (s.excludeProducts.has(item.productId) || s.excludeCategories.has(item.categoryId)) return false;
  if (blacklist.products.has(item.productId) || blacklist.categories.has(item.categoryId)) return false;
  return s.all || s.products.has(item.productId) || s.categories.has(item.categoryId);
}

/** The items of a cart a coupon applies to. */
export interface InScope {
  /** Sum of price × quantity of those items, in cents. */
  readonly subtotal: number;
  /** Their productIds, in cart order, each once. */
  readonly appliesTo: string[];
}

/** What a coupon of `scope` covers in `cart`. */
export function inScope(scope: Scope, blacklist: ItemBlacklist, cart: Cart): InScope {
  let subtotal = 0;
  const products = new Set<string>();
  for (const item of cart.items) {
    if (!appliesToItem(scope, blacklist, item)) continue;
    subtotal += item.price * item.quantity;
    products.add(item.productId);
  }
  return { subtotal, appliesTo: [...products] };
}

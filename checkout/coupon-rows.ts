/** Reading coupon rows of a shard table into HeldCoupon, the one mapping every checkout reader uses. */
import type { RowDataPacket } from 'mysql2/promise';
import type { TemplateType } from '../templates/model.ts';
import type { CouponStatus, HeldCoupon } from './model.ts';

/** The coupon columns a HeldCoupon needs, for a SELECT list (`c` is the coupon table's alias). */
export const COUPON_COLUMNS = ['coupon_id', 'user_id', 'template_id', 'status', 'name', 'type', 'value', 'threshold',
  'max_discount', 'amount', 'valid_from', 'valid_to', 'order_id', 'locked_until', 'used_at'].map((c) => `c.${c}`).join(', ');

const ms = (d: unknown): number | null => (d instanceof Date ? d.getTime() : null);
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** The coupon of a row selected with COUPON_COLUMNS. */
export function heldCoupon(r: RowDataPacket): HeldCoupon {
  return {
    couponId: String(r.coupon_id), userId: String(r.user_id), templateId: String(r.template_id),
    name: String(r.name), type: r.type as TemplateType, value: Number(r.value),
    threshold: num(r.threshold), maxDiscount: num(r.max_discount), amount: num(r.amount),
    validFrom: ms(r.valid_from)!, validTo: ms(r.valid_to)!, status: r.status as CouponStatus,
    orderId: r.order_id === null ? null : String(r.order_id), lockedUntil: ms(r.locked_until), usedAt: ms(r.used_at),
  };
}

/** zod schemas of the bulk grant bodies: a JSON user list, and a change of a running job. */
import { GRANT_JSON_MAX, GRANT_RATE_MAX } from './grant-model.ts';
import { intSchema, z } from '../core/zod.ts';
import { idList } from '../templates/rule-fields.ts';

/** POST /v1/admin/templates/{id}/grants as JSON (text/plain streams one id a line instead). */
export const grantUsersSchema = z.strictObject({
  userIds: idList(GRANT_JSON_MAX, `is required: an array of 1-${GRANT_JSON_MAX} user ids (or send text/plain, one id a line)`),
  ratePerSecond: intSchema(1, GRANT_RATE_MAX).nullish().openapi({ description: 'default GRANT_RATE_DEFAULT' }),
}).openapi('GrantUsers', { example: { userIds: ['u1', 'u2', 'u3'], ratePerSecond: 100 } });

/** States an operator may set. */
const GRANT_PATCH_STATES = ['running', 'paused', 'cancelled'] as const;

/** PATCH /v1/admin/grants/{grantId}: state, rate, or both (the handler refuses neither). */
export const grantChangeSchema = z.strictObject({
  state: z.enum(GRANT_PATCH_STATES, { error: `must be one of ${GRANT_PATCH_STATES.join(', ')}` }).optional(),
  ratePerSecond: intSchema(1, GRANT_RATE_MAX).nullish(),
}).openapi('GrantChange', { example: { ratePerSecond: 50 } });

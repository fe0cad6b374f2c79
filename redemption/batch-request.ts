/** zod schema of a request for a batch of redemption codes (POST /v1/admin/templates/{id}/codes). */
import { idSchema, intSchema, z } from '../core/zod.ts';
import { BATCH_COUNT_MAX } from './code-mac.ts';

/** `{ count, batchId? }`: the same batchId again with the same template and count is the same batch. */
export const codeBatchSchema = z.strictObject({
  count: intSchema(1, BATCH_COUNT_MAX, `is required: the number of codes, 1-${BATCH_COUNT_MAX}`),
  batchId: idSchema.optional().openapi({ description: 'default: generated' }),
}).openapi('CodeBatchRequest', { example: { count: 10, batchId: 'batch-1' } });

/**
 * Operator routes for redemption codes: create a batch of a template's codes, and download
 * them. A batch is one MySQL row (redemption/batches.ts); its codes are computed from its
 * number when downloaded, a chunk at a time as the client reads (http/stream.ts).
 */
import { ApiError, orUnavailable } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import { type BatchStore, newBatchId } from '../../redemption/batches.ts';
import { SHOWN_LENGTH } from '../../redemption/code-format.ts';
import type { CodeSigner } from '../../redemption/code-mac.ts';
import { isRedPacket } from '../../templates/model.ts';
import { bad } from '../../templates/rule-fields.ts';
import { parseBody } from '../../core/zod.ts';
import { codeBatchSchema } from '../../redemption/batch-request.ts';
import { decodeBody, formatOf } from '../http/codec.ts';
import type { Handler } from '../http/route.ts';
import { type AdminDeps, loadTemplate, templateIdParam } from './admin.ts';

export interface CodeDeps {
  readonly batches: BatchStore;
  readonly signer: CodeSigner;
}

/** POST /v1/admin/templates/:id/codes: 201 { batchId, count }, the same again for the same batchId, template and count. */
export function createCodesHandler(d: AdminDeps, c: CodeDeps): Handler {
  return async (req) => {
    d.auth(req);
    const id = templateIdParam(req);
    const { count, batchId } = parseBody(codeBatchSchema, decodeBody(req.body, formatOf(req.contentType, false)));
    // code-take draws no amount: a red packet's codes would issue packets outside its budget.
    if (isRedPacket(await loadTemplate(d, id))) bad('id', 'redemption codes are not available for red_packet templates');
    const { batch } = await orUnavailable('mysql', () => c.batches.create(batchId ?? newBatchId(), id, count, Date.now()));
    return { status: 201, body: { batchId: batch.batchId, count: batch.count } };
  };
}

// Codes per chunk of a download: 1,000 lines are 25 KB, a few milliseconds of HMACs.
const CODES_PER_CHUNK = 1000;

/** GET /v1/admin/code-batches/:batchId/codes: text/plain, one code a line, in serial order. */
export function batchCodesHandler(d: AdminDeps, c: CodeDeps): Handler {
  return async (req) => {
    d.auth(req);
    const batchId = req.params[0] ?? '';
    if (!isId(batchId)) throw new ApiError('bad_request', 'batchId: 1-64 characters of [A-Za-z0-9_.:-]');
    const batch = await orUnavailable('mysql', () => c.batches.byId(batchId));
    if (!batch) throw new ApiError('not_found', `no code batch ${batchId}`);
    let serial = 0;
    const next = () => {
      const to = Math.min(batch.count, serial + CODES_PER_CHUNK);
      const chunk = c.signer.lines(batch.batchNo, serial, to);
      serial = to;
      return chunk;
    };
    return {
      status: 200, body: null,
      stream: { size: batch.count * (SHOWN_LENGTH + 1), contentType: 'text/plain; charset=utf-8', next },
    };
  };
}

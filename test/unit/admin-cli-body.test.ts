/** `templates create` refuses a body the API's schema refuses, before any request, naming the field. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { templateBody } from '../../cli/admin/template-body.ts';

test('the CLI checks fields with the API\'s schema and leaves the rules between fields to the API', () => {
  const ok = { name: '5 off', type: 'direct', value: 500, totalStock: 10 };
  assert.deepEqual(templateBody(ok), ok);
  assert.throws(() => templateBody({ ...ok, totalStock: 0 }),
    (e: unknown) => e instanceof InvalidArgumentError && e.message === 'totalStock: must be between 1 and 1000000000');
  assert.throws(() => templateBody({ ...ok, type: 'coupon' }), (e: unknown) => e instanceof InvalidArgumentError && /^type: must be one of/.test(e.message));
  // a direct coupon with a threshold is the API's call (a rule between fields): sent as it is.
  assert.deepEqual(templateBody({ ...ok, threshold: 1000 }), { ...ok, threshold: 1000 });
});

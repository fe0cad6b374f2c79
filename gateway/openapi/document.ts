/** The OpenAPI 3.1 document of every route the gateway serves, generated from the zod schemas. */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { RuleDefaults } from '../../templates/rules.ts';
import { addAdminPaths } from './admin-paths.ts';
import { addPublicPaths } from './public-paths.ts';

/** Builds the document (once, at start-up: a few milliseconds); `rules` are the running bounds. */
export function openApiDocument(rules: RuleDefaults): Record<string, unknown> {
  const reg = new OpenAPIRegistry();
  reg.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' });
  reg.registerComponent('securitySchemes', 'userToken', {
    type: 'http', scheme: 'bearer', description: 'a signed user token (v1.<payload>.<signature>), required only when USER_TOKEN_SECRETS is set',
  });
  reg.registerComponent('securitySchemes', 'orderServiceToken', {
    type: 'http', scheme: 'bearer', description: 'ORDER_SERVICE_TOKEN, required only when it is set',
  });
  addPublicPaths(reg);
  addAdminPaths(reg, rules);
  const doc = new OpenApiGeneratorV31(reg.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Coupon issuance gateway', version: '1',
      description: 'Errors answer `{ error, message? }` with a stable code. Any path not listed answers 404 not_found, '
        + 'a listed path with another method 405 method_not_allowed, and any route 500 internal on a bug. '
        + 'With ADMIN_ROUTES=separate, /v1/admin/* and /metrics are served by the admin listener (which serves /healthz and '
        + '/openapi.json too) and the public one answers them 404; with ADMIN_ROUTES=off nobody serves them.',
    },
    tags: [{ name: 'claims' }, { name: 'coupons' }, { name: 'checkout' }, { name: 'admin' }, { name: 'operations' }],
  });
  return doc as unknown as Record<string, unknown>;
}

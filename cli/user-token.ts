/**
 * `npm run user-token -- <userId> [--ttl SECONDS]`: signs a user token with the first of
 * USER_TOKEN_SECRETS, as the upstream login service would (for trying the feature and for tests).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.ts';
import { signUserToken } from '../core/user-token.ts';
import { isId } from '../core/ids.ts';

try {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { ttl: { type: 'string', default: '3600' } } });
  const [userId, ...extra] = positionals;
  const ttl = Number(values.ttl);
  if (!isId(userId) || extra.length > 0) throw new Error('usage: npm run user-token -- <userId> [--ttl SECONDS]');
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 31 * 86_400) throw new Error('--ttl: whole seconds from 1 to 2678400 (31 days)');
  const [secret] = loadConfig().userTokenSecrets;
  if (secret === undefined) throw new Error('USER_TOKEN_SECRETS is not set: there is nothing to sign with');
  console.log(signUserToken(secret, userId, Math.floor(Date.now() / 1000) + ttl));
} catch (err) {
  console.error(`user-token: ${(err as Error).message}`);
  process.exit(2);
}

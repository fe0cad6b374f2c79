/**
 * `npm run user-token -- <userId> [--ttl SECONDS]`: signs a user token with the first of
 * USER_TOKEN_SECRETS, as the upstream login service would (for trying the feature and for tests).
 */
import { InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/index.ts';
import { signUserToken } from '../core/user-token.ts';
import { isId } from '../core/ids.ts';
import { cliProgram, intArg } from './command-line.ts';

const program = cliProgram('user-token', 'Signs a user token with the first of USER_TOKEN_SECRETS, as the login service would.')
  .argument('<userId>', 'the user the token names', (raw) => {
    if (!isId(raw)) throw new InvalidArgumentError('1-64 characters of [A-Za-z0-9_.:-]');
    return raw;
  })
  .option('--ttl <seconds>', 'lifetime, whole seconds up to 31 days', intArg(1, 31 * 86_400), 3600)
  .parse();
const [userId] = program.processedArgs as [string];
const { ttl } = program.opts<{ ttl: number }>();

try {
  const [secret] = loadConfig().userTokenSecrets;
  if (secret === undefined) throw new Error('USER_TOKEN_SECRETS is not set: there is nothing to sign with');
  console.log(signUserToken(secret, userId, Math.floor(Date.now() / 1000) + ttl));
} catch (err) {
  console.error(`user-token: ${(err as Error).message}`);
  process.exit(2);
}

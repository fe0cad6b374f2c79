/**
 * What the gateway checks in its settings before it listens: production refuses the dev
 * secrets local runs fall back to. Pure, so tests can check a deployment's settings (the
 * docker-compose file) against the same rules main.ts enforces.
 */
import type { Config } from '../config/index.ts';

export interface StartupVerdict {
  /** Why this gateway must not start; empty when it may. */
  readonly errors: readonly string[];
  /** What a local or test run should be told about (dev fallbacks in use). */
  readonly warnings: readonly string[];
}

/** Judges `cfg` the way a gateway does before it listens. */
export function gatewayStartupChecks(cfg: Config): StartupVerdict {
  const errors: string[] = [];
  const warnings: string[] = [];
  const production = cfg.appEnv === 'production';
  if (cfg.adminTokenIsDefault) {
    if (production) errors.push('ADMIN_TOKEN is required outside local runs (APP_ENV=local uses a dev token)');
    else warnings.push('ADMIN_TOKEN is not set: using the local dev token "dev-admin-token"');
  }
  if (cfg.codes.secretIsDefault) {
    if (production) errors.push('CODE_SECRET is required outside local runs (APP_ENV=local uses a dev secret)');
    else warnings.push('CODE_SECRET is not set: redemption codes use the local dev secret');
  }
  return { errors, warnings };
}

// What every command needs before it can act: the config (file + command-line overrides), a
// logger, the toolstack backend the config names, and the state directory. Commands parse their
// own arguments with node:util parseArgs, spreading COMMON_OPTIONS into theirs.

import type { ParseArgsConfig } from 'node:util';
import type { Config } from '../core/types.js';
import { applyOverrides, loadConfigFile, readPasswordFile } from '../core/config.js';
import { createLogger, type Logger } from '../log.js';
import type { Toolstack } from '../toolstack/types.js';

export const COMMON_OPTIONS = {
  config: { type: 'string' },
  xapi: { type: 'string' },
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

export interface CommonValues {
  config?: string;
  xapi?: string;
  'state-dir'?: string;
  'on-sigterm'?: string;
  'log-level'?: string;
}

export interface CommandContext {
  config: Config;
  log: Logger;
  stateDir: string;
  /** Connects on first use; the same backend afterwards. */
  toolstack(): Promise<Toolstack>;
  close(): Promise<void>;
}

/** Load config and overrides; throws ConfigError (with every problem named) when they are bad. */
export async function loadEffectiveConfig(values: CommonValues): Promise<Config> {
  const fromFile = await loadConfigFile(values.config ?? null);
  return applyOverrides(fromFile, {
    xapi: values.xapi,
    stateDir: values['state-dir'],
    onSigterm: values['on-sigterm'],
  });
}

export interface ContextOptions {
  /** Log as JSON (daemon, --json) or pretty on a TTY. */
  jsonLogs?: boolean;
  /** Default 'warn' for admin commands so their output stays readable; the daemon uses config. */
  logLevel?: string;
  /** Originator shown in xapi's session list. */
  originator?: string;
}

export async function openContext(values: CommonValues, options: ContextOptions = {}): Promise<CommandContext> {
  const config = await loadEffectiveConfig(values);
  const log = createLogger({
    level: values['log-level'] ?? options.logLevel ?? config.log.level,
    json: options.jsonLogs,
    destination: options.jsonLogs === false ? 2 : undefined,
  });
  let backend: Promise<Toolstack> | null = null;
  return {
    config,
    log,
    stateDir: config.stateDir,
    toolstack() {
      backend ??= createToolstack(config, log);
      return backend;
    },
    async close() {
      if (backend) await (await backend).close().catch(() => undefined);
    },
  };
}

export async function createToolstack(config: Config, log: Logger): Promise<Toolstack> {
  if (config.toolstack.kind === 'xl') {
    const { createXlToolstack } = await import('../toolstack/xl.js');
    return createXlToolstack({ config, stateDir: config.stateDir, log });
  }
  const { createXenApiToolstack } = await import('../toolstack/xenapi.js');
  const password = config.xapi.passwordFile ? await readPasswordFile(config.xapi.passwordFile, config.source) : '';
  return createXenApiToolstack({
    url: config.xapi.url,
    protocol: config.xapi.protocol,
    user: config.xapi.user,
    password,
    caFile: config.xapi.caFile || undefined,
    fingerprint: config.xapi.fingerprint || undefined,
    callTimeoutMs: config.xapi.callTimeout * 1000,
    hostUuid: config.xapi.hostUuid || undefined,
    log,
  });
}

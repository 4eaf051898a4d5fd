// The composition root: the one place that knows which concrete parts make up the program. It
// builds what the daemon and every command need — the config (file + command-line overrides), the
// logger, the toolstack backend the config names, the state directory — and hands them over.
// Nothing below it imports it back: the daemon receives its parts as DaemonServices, commands
// receive a CommandContext, so neither reaches into the other (docs/ARCHITECTURE.md).

import { resolve } from 'node:path';
import { applyOverrides } from '../core/config.js';
import type { Config } from '../core/types.js';
import { runDaemon, type DaemonServices } from '../daemon/daemon.js';
import { createLogger, type Logger } from '../log.js';
import { openStateDir, type StateDir } from '../state/index.js';
import type { Toolstack } from '../toolstack/types.js';
import { loadConfigFile, readPasswordFile } from './config-files.js';
import { createReloadableToolstack } from './reloadable-toolstack.js';

/** What the command line may say about the config (every command's common flags). */
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
  /** The state directory, opened (created if missing) on first use; the same handle afterwards. */
  state(): Promise<StateDir>;
  close(): Promise<void>;
}

/** Load config and overrides; throws ConfigError (with every problem named) when they are bad. */
export async function loadEffectiveConfig(values: CommonValues): Promise<Config> {
  const fromFile = await loadConfigFile(values.config ?? null);
  const stateDir = values['state-dir'];
  return applyOverrides(fromFile, {
    xapi: values.xapi,
    // A relative --state-dir means "from where I stand"; the core only takes absolute paths.
    stateDir: stateDir !== undefined && stateDir.trim() !== '' ? resolve(stateDir) : stateDir,
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
  let state: Promise<StateDir> | null = null;
  return {
    config,
    log,
    stateDir: config.stateDir,
    toolstack() {
      backend ??= createToolstack(config, log, options.originator);
      return backend;
    },
    state() {
      state ??= openStateDir(config.stateDir, log);
      return state;
    },
    async close() {
      if (!backend) return;
      // A command that failed to connect has nothing to close; its error was already reported.
      const opened = await backend.catch(() => null);
      await opened?.close().catch((err: unknown) => log.debug({ err }, 'closing the toolstack connection failed'));
    },
  };
}

/** The backend the config names, not yet connected (the first call connects). */
export async function createToolstack(config: Config, log: Logger, originator?: string): Promise<Toolstack> {
  if (config.toolstack.kind === 'xl') {
    const { createXlToolstack } = await import('../toolstack/xl.js');
    return createXlToolstack({ guestTables: config.guests, stateDir: config.stateDir, log });
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
    ...(originator ? { originator } : {}),
    log,
  });
}

/** The daemon's parts, rebuilt from the config file on SIGHUP where they can be. */
export function daemonServices(values: CommonValues): DaemonServices {
  return {
    loadConfig: () => loadEffectiveConfig(values),
    createLogger: (config) => createLogger({ level: values['log-level'] ?? config.log.level }),
    logLevel: (config) => values['log-level'] ?? config.log.level,
    openToolstack: (config, log) => createReloadableToolstack(config, log, (next) => createToolstack(next, log)),
    // TEST ONLY (the fault matrix proves the last-resort handler with it); unset in any real run.
    ...(process.env.XEN_GUESTS_TEST_FAULT === 'unhandled-rejection-in-shutdown' ? { testFault: 'unhandled-rejection-in-shutdown' as const } : {}),
  };
}

/** `xen-guests daemon`: the service, built from the command line's values. */
export function runDaemonFromCommandLine(values: CommonValues): Promise<number> {
  return runDaemon(daemonServices(values));
}

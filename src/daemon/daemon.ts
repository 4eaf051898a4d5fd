// The supervised service's life: wait for the toolstack, run the boot plan once per host boot,
// report READY, then wait for a stop. A stop while the host goes down runs the shutdown plan
// inside one deadline that systemd is told about; any other stop leaves every guest alone.
// A daemon that starts while a host shutdown of this boot is unfinished (it was killed in the middle
// of it, or restarted just before it) finishes that shutdown first, inside the same deadline.
//
// Exit codes: 0 done; 1 a guest of this host was left running, or the daemon failed; 75 (EX_TEMPFAIL)
// another daemon runs on the same state directory; 2 a bad flag or flag value; 78 (EX_CONFIG) a
// configuration problem (config file, credentials file, endpoint) that a restart cannot fix.

import { COMMAND_LINE, ConfigError } from '../core/config.js';
import { configAfterReload, reloadChanges } from '../core/reload.js';
import type { Config } from '../core/types.js';
import type { Logger } from '../log.js';
import { createNotifier, type Notifier } from '../systemd/notify.js';
import { readBootId } from '../state/index.js';
import { ensureDir } from '../state/atomic.js';
import { DAEMON_LOCK, LockBusyError, tryLock, type HeldLock } from '../state/lock.js';
import type { Toolstack } from '../toolstack/types.js';
import { EXIT_BUSY, EXIT_CONFIG, EXIT_FAILED, EXIT_USAGE } from '../core/exit-codes.js';
import { wireSignals, type SignalWiring } from './signals.js';
import { runBootPhase, type BootPhaseResult } from './boot-phase.js';
import { runShutdownPhase } from './shutdown-phase.js';
import { collectGarbage } from './collect-garbage.js';
import { runtimeDir } from './runtime-dir.js';
import { openWitnesses, type Witnesses } from './witnesses.js';
import { decideOnStop, shutdownToFinish } from './stop-decision.js';
import type { ShutdownRecord } from './shutdown-record.js';
import { deadlineIn } from '../core/clock.js';

// EXIT_CONFIG (78, sysexits.h EX_CONFIG): the unit's RestartPreventExitStatus keeps systemd from
// looping on a bad config. A shutdown that left guests running exits EXIT_FAILED.

/**
 * The parts the daemon is built from, supplied by the composition root (src/app/compose.ts): the
 * daemon knows the interfaces, never which config file, logger or backend stands behind them.
 */
export interface DaemonServices {
  /** Read the config (file + command line) again; throws a ConfigError naming every problem. */
  loadConfig(): Promise<Config>;
  createLogger(config: Config): Logger;
  /** The level a config asks for (the command line's --log-level wins). */
  logLevel(config: Config): string;
  /**
   * The toolstack connection for a config; replace() moves it to another config between operations,
   * rest() to a fresh unconnected one (the old one closed) while the daemon idles.
   */
  openToolstack(config: Config, log: Logger): Promise<{ toolstack: Toolstack; replace(next: Config): Promise<void>; rest(): Promise<void> }>;
  /** TEST ONLY: leave a promise rejection unhandled as the host shutdown begins (proves the safety net). */
  testFault?: 'unhandled-rejection-in-shutdown';
}

export async function runDaemon(services: DaemonServices): Promise<number> {
  // First of all, so that a SIGTERM arriving while the daemon starts is a stop, not a kill.
  let onReload = (): void => undefined;
  let onRepeatedStop = (_signal: NodeJS.Signals): void => undefined;
  const signals = wireSignals({ onReload: () => onReload(), onRepeatedStop: (s) => onRepeatedStop(s) });
  try {
    let config: Config;
    try {
      config = await services.loadConfig();
    } catch (err) {
      // Before any logger exists the journal still gets stderr; name every problem at once.
      process.stderr.write(`xen-guests daemon: ${messageOf(err)}\n`);
      // A bad --on-sigterm / --xapi is bad usage (2), like every other command's; the unit stops
      // restarting on 2 as on 78, since neither heals by itself.
      return err instanceof ConfigError && err.source === COMMAND_LINE ? EXIT_USAGE : EXIT_CONFIG;
    }
    const log = services.createLogger(config);
    const safety = installSafetyNet(log);
    const notifier = createNotifier(log);
    notifier.startWatchdog();
    let ready = false;
    const markReady = (status: string): void => {
      notifier.ready(status);
      ready = true;
    };
    onRepeatedStop = (signal) => log.warn({ signal }, 'already stopping; the running phase keeps its deadline');
    // Set once the toolstack connection exists; a SIGHUP before that only re-reads the file.
    let connection: { replace(next: Config): Promise<void> } | null = null;
    // One reload at a time: a second SIGHUP during a reload waits for it, then reads the file again.
    let reloading: Promise<void> = Promise.resolve();
    onReload = () => {
      // A signal handler cannot wait: the reload runs on its own, chained after any earlier one;
      // whatever escapes it (the notifier) is logged, never left as an unhandled rejection.
      reloading = reloading.then(reloadOnce).catch((err: unknown) => log.error({ err }, 'config reload failed'));
    };
    const reloadOnce = async (): Promise<void> => {
      if (ready) notifier.reloading();
      try {
        const next = await services.loadConfig();
        const changes = reloadChanges(config, next);
        const applied = configAfterReload(config, next);
        if (changes.reconnect && connection) await connection.replace(applied);
        config = applied;
        log.level = services.logLevel(applied);
        if (changes.restartOnly.length > 0) {
          log.warn(
            { source: config.source, changed: changes.changed, notApplied: changes.restartOnly },
            `config reloaded, except ${changes.restartOnly.join(', ')}: kept as running until a restart (systemctl restart xen-guests)`,
          );
        } else {
          log.info({ source: config.source, changed: changes.changed, reconnected: changes.reconnect && connection !== null }, 'config reloaded');
        }
      } catch (err) {
        log.error({ err: messageOf(err) }, 'config reload failed; keeping the previous config and toolstack connection');
      }
      // READY=1 ends a reload; before the first READY it would end the start job early instead.
      if (ready) notifier.ready();
    };
    try {
      const onConnected = (c: { replace(next: Config): Promise<void> }): void => {
        connection = c;
      };
      return await lifecycle({ services, log, notifier, signals, config: () => config, markReady, onConnected, safety });
    } catch (err) {
      // One line that says what failed; the stack is for a developer, at debug.
      log.fatal({ err: messageOf(err) }, `daemon failed: ${messageOf(err)}`);
      log.debug({ err }, 'daemon failed: stack');
      return 1;
    } finally {
      await notifier.close();
      safety.dispose();
    }
  } finally {
    signals.dispose();
  }
}

interface SafetyNet {
  /** Set while the host shutdown runs: a stray error must not end it. */
  shutdownRunning: boolean;
  dispose(): void;
}

/**
 * The last resort for a promise rejection nobody handled or an exception nobody caught (Node would
 * exit on either): logged at fatal with its stack. During the host shutdown the daemon carries on,
 * because systemd does not restart a unit it is stopping — exiting would leave the guests to xapi's
 * hard stop. Otherwise it exits 1 and systemd (Restart=on-failure) starts a fresh daemon, which
 * resumes whatever was under way from its records.
 */
function installSafetyNet(log: Logger): SafetyNet {
  const net: SafetyNet = { shutdownRunning: false, dispose: () => undefined };
  const handler = (kind: string) => (err: unknown) => {
    const then = net.shutdownRunning ? 'the host shutdown in progress carries on to its end' : 'exiting so that systemd restarts the daemon';
    log.fatal({ err, kind }, `${kind}: ${messageOf(err)}; ${then}`);
    if (!net.shutdownRunning) process.exit(1);
  };
  const onRejection = handler('unhandled promise rejection');
  const onException = handler('uncaught exception');
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  net.dispose = () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
  return net;
}

/** TEST ONLY (DaemonServices.testFault): a promise rejection nobody handles, as the shutdown begins. */
function injectTestFault(fault: DaemonServices['testFault']): void {
  if (fault === 'unhandled-rejection-in-shutdown') {
    setTimeout(() => void Promise.reject(new Error('injected by XEN_GUESTS_TEST_FAULT (test only)')), 0);
  }
}

interface Life {
  services: DaemonServices;
  /** Hands the connection to the SIGHUP handler once it exists. */
  onConnected: (connection: { replace(next: Config): Promise<void> }) => void;
  log: Logger;
  notifier: Notifier;
  signals: SignalWiring;
  /** The config in force now (SIGHUP replaces it). */
  config: () => Config;
  markReady: (status: string) => void;
  safety: SafetyNet;
}

async function lifecycle(life: Life): Promise<number> {
  const { log, notifier, signals } = life;
  const config = life.config();
  const bootId = await readBootId();
  log.info({ bootId, config: config.source || '(built-in defaults)', toolstack: config.toolstack.kind }, 'xen-guests daemon starting');
  let daemonLock: HeldLock | null;
  try {
    await ensureDir(config.stateDir).catch(() => undefined);
    daemonLock = await tryLock(config.stateDir, DAEMON_LOCK, 'a xen-guests daemon', bootId, log);
  } catch (err) {
    if (!(err instanceof LockBusyError)) throw err;
    log.fatal({ holder: err.holder, stateDir: config.stateDir }, `another xen-guests daemon is running on state directory ${config.stateDir} (pid ${err.holder.pid}, since ${err.holder.since}); refusing to start a second one (exit ${EXIT_BUSY})`);
    return EXIT_BUSY;
  }
  try {
    return await lifecycleLocked(life, config, bootId);
  } finally {
    await daemonLock?.release();
  }
}

async function lifecycleLocked(life: Life, config: Config, bootId: string): Promise<number> {
  const { log, notifier, signals } = life;

  let toolstack: Toolstack;
  let connection: Awaited<ReturnType<DaemonServices['openToolstack']>>;
  try {
    connection = await life.services.openToolstack(config, log);
    toolstack = connection.toolstack;
    life.onConnected(connection);
  } catch (err) {
    // Nothing has connected yet: what fails here is the endpoint, credentials file or CA file.
    log.fatal({ err: messageOf(err) }, 'cannot set up the toolstack connection; fix the configuration (exit 78, not restarted)');
    return EXIT_CONFIG;
  }
  const witnesses = await openWitnesses(config.stateDir, runtimeDir(), log, () => hostUuidOf(toolstack, life));
  try {
    const resume = await shutdownToFinish(life.config(), log, witnesses, bootId);
    if (resume) {
      life.markReady('host going down: finishing the host shutdown');
      notifier.stopping(`stopping: ${resume.why}`);
      log.warn({ why: resume.why }, 'host is going down: finishing the host shutdown before anything else');
      return await shutdown(life, witnesses, toolstack, bootId, resume.why, resume.record ?? undefined);
    }

    let boot: BootPhaseResult | null = null;
    if (!signals.stopSignal.aborted) {
      boot = await runBootPhase({
        config: life.config(),
        log,
        notifier,
        witnesses,
        toolstack,
        bootId,
        stopSignal: signals.stopSignal,
        onDelayed: (status) => life.markReady(status),
      });
    }
    if (!signals.stopSignal.aborted) {
      life.markReady(boot?.idleStatus ?? 'idle');
      log.info({ status: boot?.idleStatus }, 'ready; waiting for a stop');
      boot = null;
      // Not awaited: a stop never waits for the old connection to finish closing.
      void restUntilStop(connection, log, signals.stopSignal);
    }
    const signal = await signals.stopRequested;
    notifier.stopping('stopping: deciding whether the host is going down');

    const decision = await decideOnStop(life.config(), log);
    if (!decision.stopGuests) {
      log.info({ signal, why: decision.why }, 'stop is not a host shutdown: leaving every guest as it is');
      return 0;
    }
    log.info({ signal, why: decision.why }, 'host is going down: stopping this host\'s guests');
    return await shutdown(life, witnesses, toolstack, bootId, decision.why);
  } finally {
    await toolstack.close().catch((err: unknown) => log.warn({ err }, 'closing the toolstack connection failed'));
  }
}

/**
 * Lean at rest: between the boot plan and a stop the daemon needs nothing from the toolstack, so
 * the connection is swapped for a fresh, unconnected one of the same config. The old one closes —
 * its event loop, record cache, session and sockets go — and then the heap it held is collected
 * (V8 would otherwise keep it: an idle process allocates nothing that would prompt a collection).
 * A stop starts at once all the same: the swap happens before anything waits, every module stays
 * loaded, and the shutdown reads its guests fresh anyway; the new connection logs in with that
 * first read (one round trip). A stop that comes first skips the collection.
 */
async function restUntilStop(connection: { rest(): Promise<void> }, log: Logger, stopSignal: AbortSignal): Promise<void> {
  try {
    await connection.rest();
    log.debug('toolstack connection released until a stop');
  } catch (err) {
    log.warn({ err: messageOf(err) }, 'could not release the toolstack connection; keeping it');
  }
  if (!stopSignal.aborted) collectGarbage();
}

/** This host's uuid, waiting for the toolstack (bounded by xapi.wait_ready, ended by a stop); null when it does not answer. */
async function hostUuidOf(toolstack: Toolstack, life: Life): Promise<string | null> {
  try {
    await toolstack.waitUntilReady({ deadline: deadlineIn(life.config().xapi.waitReady * 1000), signal: life.signals.stopSignal });
    return (await toolstack.host()).uuid;
  } catch (err) {
    life.log.warn({ err: messageOf(err) }, 'this host\'s uuid is not known yet: runtime records are told apart by state directory only');
    return null;
  }
}

async function shutdown(
  life: Life,
  witnesses: Witnesses,
  toolstack: Toolstack,
  bootId: string,
  trigger: string,
  resume?: ShutdownRecord,
): Promise<number> {
  life.safety.shutdownRunning = true;
  injectTestFault(life.services.testFault);
  const report = await runShutdownPhase({ config: life.config(), log: life.log, notifier: life.notifier, witnesses, toolstack, bootId, trigger, ...(resume ? { resume } : {}) });
  return report.leftRunning.length > 0 || report.interrupted ? EXIT_FAILED : 0;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// The supervised service's life: wait for the toolstack, run the boot plan once per host boot,
// report READY, then wait for a stop. A stop while the host goes down runs the shutdown plan
// inside one deadline that systemd is told about; any other stop leaves every guest alone.

import type { Config } from '../core/types.js';
import { ConfigError } from '../core/config.js';
import { createToolstack, loadEffectiveConfig, type CommonValues } from '../cli/context.js';
import { createLogger, type Logger } from '../log.js';
import { createNotifier, type Notifier } from '../systemd/notify.js';
import { isHostGoingDown } from '../systemd/host-state.js';
import { openStateDir, readBootId } from '../state/index.js';
import type { Toolstack } from '../toolstack/types.js';
import { wireSignals } from './signals.js';
import { runBootPhase, type BootPhaseResult } from './boot-phase.js';
import { runShutdownPhase } from './shutdown-phase.js';

/** sysexits.h EX_CONFIG: the unit's RestartPreventExitStatus keeps systemd from looping on it. */
export const EXIT_CONFIG = 78;
export const EXIT_GUESTS_LEFT_RUNNING = 1;

export async function runDaemon(values: CommonValues): Promise<number> {
  let config: Config;
  try {
    config = await loadEffectiveConfig(values);
  } catch (err) {
    // Before any logger exists the journal still gets stderr; name every problem at once.
    process.stderr.write(`xen-guests daemon: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof ConfigError ? EXIT_CONFIG : 1;
  }
  const log = createLogger({ level: values['log-level'] ?? config.log.level });
  const notifier = createNotifier(log);
  notifier.startWatchdog();
  try {
    return await lifecycle(values, config, log, notifier);
  } catch (err) {
    log.fatal({ err }, 'daemon failed');
    return 1;
  } finally {
    await notifier.close();
  }
}

async function lifecycle(values: CommonValues, initialConfig: Config, log: Logger, notifier: Notifier): Promise<number> {
  let config = initialConfig;
  const signals = wireSignals({
    onReload: () => {
      void reload();
    },
    onRepeatedStop: (signal) => log.warn({ signal }, 'already stopping; the running phase keeps its deadline'),
  });
  const reload = async () => {
    notifier.reloading();
    try {
      config = await loadEffectiveConfig(values);
      log.info({ source: config.source }, 'config reloaded');
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'config reload failed; keeping the previous config');
    }
    notifier.ready();
  };

  const state = await openStateDir(config.stateDir, log);
  const bootId = await readBootId();
  log.info({ bootId, config: config.source || '(built-in defaults)', toolstack: config.toolstack.kind }, 'xen-guests daemon starting');

  const toolstack: Toolstack = await createToolstack(config, log);
  try {
    let boot: BootPhaseResult | null = null;
    if (!signals.stopSignal.aborted) {
      boot = await runBootPhase({ config, log, notifier, state, toolstack, bootId, stopSignal: signals.stopSignal });
    }
    if (!signals.stopSignal.aborted) {
      notifier.ready(boot?.idleStatus ?? 'idle');
      log.info({ status: boot?.idleStatus }, 'ready; waiting for a stop');
    }
    const signal = await signals.stopRequested;
    notifier.stopping('stopping: deciding whether the host is going down');

    const decision = await decideOnStop(config, log);
    if (!decision.stopGuests) {
      log.info({ signal, why: decision.why }, 'stop is not a host shutdown: leaving every guest as it is');
      return 0;
    }
    log.info({ signal, why: decision.why }, 'host is going down: stopping this host\'s guests');
    const report = await runShutdownPhase({ config, log, notifier, state, toolstack, bootId, trigger: decision.why });
    return report.leftRunning.length > 0 ? EXIT_GUESTS_LEFT_RUNNING : 0;
  } finally {
    signals.dispose();
    await toolstack.close().catch((err: unknown) => log.warn({ err }, 'closing the toolstack connection failed'));
  }
}

async function decideOnStop(config: Config, log: Logger): Promise<{ stopGuests: boolean; why: string }> {
  switch (config.shutdown.onSigterm) {
    case 'stop-guests':
      return { stopGuests: true, why: 'on_sigterm = stop-guests' };
    case 'leave-guests':
      return { stopGuests: false, why: 'on_sigterm = leave-guests' };
    case 'auto': {
      const answer = await isHostGoingDown();
      log.debug({ answer }, 'asked systemd whether the host is going down');
      return { stopGuests: answer.down, why: answer.why };
    }
  }
}

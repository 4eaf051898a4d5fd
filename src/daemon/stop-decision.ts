// Whether this host's guests must be stopped now, asked at two moments: at SIGTERM (is this a host
// shutdown or only a stop of the service?) and at start (is a host shutdown under way that this
// daemon must run or finish?). systemd answers under --on-sigterm auto; the flag decides otherwise.

import type { Config } from '../core/types.js';
import type { Logger } from '../log.js';
import { isHostGoingDown } from '../systemd/host-state.js';
import type { Witnesses } from './witnesses.js';
import type { ShutdownRecord } from './shutdown-record.js';

/**
 * At start: must a host shutdown be run (or finished) now? Yes when systemd says the host is going
 * down (--on-sigterm auto), or when an earlier daemon of this boot began one that did not finish and
 * --on-sigterm is stop-guests (nothing else to ask). The earlier daemon's deadline is kept.
 */
export async function shutdownToFinish(
  config: Config,
  log: Logger,
  witnesses: Witnesses,
  bootId: string,
): Promise<{ why: string; record: ShutdownRecord | null } | null> {
  const open = await witnesses.unfinishedShutdown(bootId);
  const began = open ? `an earlier daemon of this boot began a host shutdown at ${open.startedAt} that did not finish` : null;
  switch (config.shutdown.onSigterm) {
    case 'leave-guests':
      if (began) log.warn({ deadlineAt: open!.deadlineAt }, `${began}; on_sigterm = leave-guests: not finishing it`);
      return null;
    case 'stop-guests':
      return open ? { why: `${began} (on_sigterm = stop-guests)`, record: open } : null;
    case 'auto': {
      const answer = await isHostGoingDown();
      log.debug({ answer }, 'asked systemd at start whether the host is going down');
      if (!answer.down) {
        if (began) log.warn({ why: answer.why }, `${began}; the host is not going down now: not finishing it`);
        return null;
      }
      return { why: began ? `${began}; ${answer.why}` : `started while the host is going down: ${answer.why}`, record: open };
    }
  }
}

export async function decideOnStop(config: Config, log: Logger): Promise<{ stopGuests: boolean; why: string }> {
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

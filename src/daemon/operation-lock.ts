// The locks as the daemon uses them (src/state/lock.ts). A lock that cannot be taken for a reason
// other than a live holder (read-only or missing state directory) is logged and gone without: the
// daemon must still start and stop guests with a broken disk.

import { rm } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { sleep } from '../retry.js';
import { LockBusyError, OPERATION_LOCK, tryLock, type HeldLock } from '../state/lock.js';
import { monotonicNow } from '../core/clock.js';

const BUSY_POLL_MS = 500;

/**
 * The operation lock for the host shutdown. A start-all/stop-all that holds it is waited for (it is
 * stopping or starting guests right now; acting at once would stop some twice and overwrite the
 * snapshot it took before stopping anything), until `until`; then the shutdown takes it over.
 */
export async function lockForShutdown(dir: string, bootId: string, until: number, log: Logger): Promise<HeldLock | null> {
  let logged = false;
  for (;;) {
    try {
      return await tryLock(dir, OPERATION_LOCK, 'the daemon (host shutdown)', bootId, log);
    } catch (err) {
      if (!(err instanceof LockBusyError)) throw err;
      if (monotonicNow() + BUSY_POLL_MS >= until) {
        log.error({ holder: err.holder }, `${err.holder.what} (pid ${err.holder.pid}) still holds the operation lock; the host shutdown goes ahead`);
        await rm(err.path, { force: true });
        continue;
      }
      if (!logged) log.warn({ holder: err.holder }, `${err.holder.what} (pid ${err.holder.pid}) is running; the host shutdown waits for it to end`);
      logged = true;
      await sleep(BUSY_POLL_MS);
    }
  }
}

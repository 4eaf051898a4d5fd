// Both backends put one translation at their edge: whatever their own layers throw (XenAPI client
// errors, xenstore errors) leaves the seam as a ToolstackError with a meaning. The operation is
// passed along because a refusal means different things for a start and for a clean shutdown.

import type { CleanShutdownHandle, Guest, Toolstack } from './types.js';

export type SeamOperation = 'start' | 'clean-shutdown' | 'hard-shutdown' | 'plug-storage' | 'other';

export type Translate = (err: unknown, op: SeamOperation) => unknown;

/** The same backend with every failure passed through `translate` on its way out. */
export function speakingMeanings(inner: Toolstack, translate: Translate): Toolstack {
  const as =
    <A extends unknown[], R>(op: SeamOperation, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await fn(...args);
      } catch (err) {
        throw translate(err, op);
      }
    };
  const other = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) => as('other', fn);
  return {
    kind: inner.kind,
    waitUntilReady: other(inner.waitUntilReady),
    host: other(inner.host),
    guests: other(inner.guests),
    guest: other(inner.guest),
    start: as('start', inner.start),
    requestCleanShutdown: as('clean-shutdown', async (guest: Guest): Promise<CleanShutdownHandle> => {
      const handle = await inner.requestCleanShutdown(guest);
      const done = handle.done.catch((err: unknown) => {
        throw translate(err, 'clean-shutdown');
      });
      done.catch(() => undefined); // the engine may cancel and never look at it
      return { done, cancel: other(handle.cancel) };
    }),
    hardShutdown: as('hard-shutdown', inner.hardShutdown),
    waitFor: other(inner.waitFor),
    storageOf: other(inner.storageOf),
    plugStorage: as('plug-storage', inner.plugStorage),
    setOtherConfigKey: other(inner.setOtherConfigKey),
    removeOtherConfigKey: other(inner.removeOtherConfigKey),
    setBlockedOperation: other(inner.setBlockedOperation),
    removeBlockedOperation: other(inner.removeBlockedOperation),
    ...(inner.lastStartTime ? { lastStartTime: other(inner.lastStartTime) } : {}),
    ...(inner.sendAlert ? { sendAlert: other(inner.sendAlert) } : {}),
    ...(inner.pool
      ? {
          pool: {
            hosts: other(inner.pool.hosts),
            disableThisHost: other(inner.pool.disableThisHost),
            enableThisHost: other(inner.pool.enableThisHost),
            migrationTarget: other(inner.pool.migrationTarget),
            migrate: other(inner.pool.migrate),
          },
        }
      : {}),
    close: other(inner.close),
  };
}

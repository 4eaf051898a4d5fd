// One xenstore watch per path however many waiters share it: a thousand guests waiting on
// @releaseDomain cost one registration, and the last waiter to leave removes it.

import type { Logger } from '../../log.js';
import type { Watch, XenstoreClient } from '../../xenstore/client.js';

type Listener = (changedPath: string) => void;

interface Entry {
  listeners: Set<Listener>;
  watch: Promise<Watch | null>;
}

export interface WatchHub {
  /** Listen on a path; the listener also runs once when the registration is in place. */
  subscribe(path: string, listener: Listener): Promise<() => void>;
}

export function createWatchHub(xs: XenstoreClient, log: Logger): WatchHub {
  const entries = new Map<string, Entry>();

  return {
    async subscribe(path, listener) {
      let entry = entries.get(path);
      if (!entry) {
        const listeners = new Set<Listener>();
        const e: Entry = {
          listeners,
          watch: xs
            .watch(path, (changed) => {
              for (const l of [...listeners]) l(changed);
            })
            .catch((err: unknown) => {
              log.warn({ err, path }, 'xenstore watch failed; waiters fall back to their deadlines');
              entries.delete(path);
              return null;
            }),
        };
        entries.set(path, e);
        entry = e;
      } else {
        // Already registered: the newcomer gets its own first look, as a fresh watch would.
        queueMicrotask(() => listener(path));
      }
      entry.listeners.add(listener);
      await entry.watch;
      const current = entry;
      return () => {
        current.listeners.delete(listener);
        if (current.listeners.size === 0 && entries.get(path) === current) {
          entries.delete(path);
          void current.watch.then((w) => w?.unwatch()).catch(() => undefined);
        }
      };
    },
  };
}

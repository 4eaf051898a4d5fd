// Reading what the daemon left in its state directory, for the read-only admin commands. A missing
// directory is not an error (the daemon may not have run yet) and is not created here: looking must
// not change the host.

import { stat } from 'node:fs/promises';
import type { PlanMode, RunReport, ShutdownSnapshot } from '../core/types.js';
import type { Logger } from '../log.js';
import { openStateDir } from '../state/index.js';

export interface StateView {
  dir: string;
  /** Why nothing could be read, e.g. "no state directory at /var/lib/xen-guests"; null when read. */
  missing: string | null;
  boot: RunReport | null;
  shutdown: RunReport | null;
  snapshot: ShutdownSnapshot | null;
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

export async function readStateView(dir: string, log: Logger, want: { reports?: PlanMode[]; snapshot?: boolean }): Promise<StateView> {
  const view: StateView = { dir, missing: null, boot: null, shutdown: null, snapshot: null };
  if (!(await isDirectory(dir))) {
    view.missing = `no state directory at ${dir} (the daemon has not run on this host yet, or pass --state-dir DIR)`;
    return view;
  }
  const state = await openStateDir(dir, log);
  for (const mode of want.reports ?? []) view[mode] = await state.readReport(mode);
  if (want.snapshot) view.snapshot = await state.readSnapshot();
  return view;
}

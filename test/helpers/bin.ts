// The program under test. By default the clone's build, `node dist/src/cli/bin.js`; with
// XEN_GUESTS_BIN=PATH the self-contained executable (`npm run package` makes out/xen-guests), so
// the daemon tests can run against exactly what the RPM ships.

import { resolve } from 'node:path';

export const DIST_BIN = resolve(import.meta.dirname, '../../dist/src/cli/bin.js');

/** The executable named by XEN_GUESTS_BIN, or null for the Node way. */
export const EXECUTABLE_UNDER_TEST = process.env.XEN_GUESTS_BIN ? resolve(process.env.XEN_GUESTS_BIN) : null;

/** Command and arguments that run `xen-guests ARGS` the way under test. */
export function productCommand(args: string[]): [string, string[]] {
  return EXECUTABLE_UNDER_TEST ? [EXECUTABLE_UNDER_TEST, args] : [process.execPath, [DIST_BIN, ...args]];
}

// How this program finds and runs itself: from a clone or an npm install it is node running
// dist/src/cli/bin.js; built by `npm run package` it is one self-contained executable (Bun), whose
// bundled modules live under the virtual directory /$bunfs/root/ instead of on disk.

import { fileURLToPath } from 'node:url';

export const RUNS_AS_EXECUTABLE = import.meta.url.includes('/$bunfs/');

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));

/** The command line that runs this same program with ARGS: `node …/bin.js ARGS` or `xen-guests ARGS`. */
export function selfCommand(args: string[]): [string, string[]] {
  return [process.execPath, RUNS_AS_EXECUTABLE ? args : [BIN, ...args]];
}

import { resolve } from 'node:path';
import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run reliability`: the fault matrix alone, with each row file writing its results, and
// docs/RELIABILITY.md rendered from them at the end (test/faults/reliability-run.ts). `npm test`
// runs the same rows through vitest.config.ts and writes nothing.
export default mergeConfig(
  base,
  defineConfig({
    test: {
      include: ['test/faults/**/*.test.ts'],
      globalSetup: ['test/faults/reliability-run.ts'],
      env: { XEN_GUESTS_RELIABILITY_RESULTS: resolve(import.meta.dirname, 'test/faults/results') },
    },
  }),
);

import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// `npm run reliability`: the fault matrix alone, with each row file writing its results, and
// docs/RELIABILITY.md rendered from them at the end (test/faults/reliability-run.ts). `npm test`
// runs the same rows through vitest.config.ts and writes nothing. (Not merged with that config:
// merging would add its `include` to this one and run the whole suite.)
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['test/faults/reliability-run.ts'],
    env: { XEN_GUESTS_RELIABILITY_RESULTS: process.env.XEN_GUESTS_RELIABILITY_RESULTS ?? resolve(import.meta.dirname, 'test/faults/results') },
  },
});

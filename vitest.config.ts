import { defineConfig } from 'vitest/config';

// Unit, simulator and end-to-end tests. System tests (real systemd, real Xen) live in
// test/system and have their own scripts because they need root and minutes.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/system/**', 'node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    setupFiles: ['test/setup/fast-check.ts'],
    // Builds the QEMU test guest once per run, before any file needs it.
    globalSetup: ['test/setup/test-guest.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Every suite: test/*.test.ts (unit and integration), test/slow/, test/hardening/,
    // test/interop/ (CONTRIBUTING.md says what each needs). test/kit/ holds the shared helpers.
    include: ['test/**/*.test.ts'],
    // The interop peers' build output (Go module cache, Python venv) is never a test.
    exclude: ['**/node_modules/**', 'test/interop/.build/**'],
    // Real sockets and child processes: run files in separate forks, a few at a time.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});

import { defineConfig } from 'vitest/config';

/**
 * Two groups, one after the other. The failover tests kill and promote engine processes on heartbeat timeouts
 * (50 ms × 3), so they run alone, after the rest: beside the other files' engine threads on CI's 2 cores, a starved
 * process can miss its heartbeats and the schedule the test means to exercise is not the one that runs.
 */
const FAILOVER = ['test/replication.test.ts'];
const shared = { testTimeout: 60_000, hookTimeout: 60_000 };

export default defineConfig({
  test: {
    projects: [
      // Worker-thread tests must not assume more than the 2 cores CI has.
      { test: { ...shared, name: 'suite', include: ['test/**/*.test.ts'], exclude: FAILOVER, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { test: { ...shared, name: 'failover', include: FAILOVER, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});

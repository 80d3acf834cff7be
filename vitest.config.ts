import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Property tests and whole-cluster runs are CPU-bound; give them room, never assert on time.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
})

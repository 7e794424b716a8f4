import {defineConfig} from 'vitest/config'

/**
 * Two projects. `unit` runs in parallel: pure code, golden files, fixture trees, the simulated
 * kernel, fake runners. `real` boots guests and starts libvirtd, OVS and QEMU on this host for
 * real (root; the Debian packages .ci/run installs): its files run one at a time, since they share
 * libvirtd, hugepages and two CPU cores, and test/real-setup.ts starts libvirtd once for all of
 * them and stops it at the end if it started it.
 */
const REAL = ['test/guest/boot.test.ts', 'test/doctor/real-host.test.ts', 'test/e2e/**/*.test.ts', 'test/nested/**/*.real.test.ts']

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      {extends: true, test: {name: 'unit', include: ['test/**/*.test.ts'], exclude: REAL}},
      {
        extends: true,
        test: {
          name: 'real',
          include: REAL,
          fileParallelism: false,
          globalSetup: ['test/real-setup.ts', 'test/nested/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
})

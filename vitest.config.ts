import {defineConfig} from 'vitest/config'

/**
 * Two projects. `unit` runs in parallel: pure code, golden files, fixture trees, the simulated
 * kernel, fake runners. `real` boots guests and starts libvirtd, OVS and QEMU on this host for
 * real (root; the Debian packages .ci/run installs): its files run one at a time, since they share
 * libvirtd, hugepages and two CPU cores, and test/real-setup.ts starts libvirtd once for all of
 * them and stops it at the end if it started it.
 *
 * The SSH transport tests (test/host/ssh-*.test.ts, test/host/transport-contract.test.ts) are
 * `unit`: each file starts its own sshd on 127.0.0.1 at a free port (test/helpers/sshd.ts: root
 * and openssh-server needed, ~1 s) and shares nothing with other files, so they run in parallel.
 * test/measure/loopback.test.ts is `unit` for the same reason: real iperf3 and ping on 127.0.0.1
 * only, its iperf3 server on a port free at the start (test/helpers/free-port.ts), no daemon or
 * state shared with other files, ~5 s.
 */
const REAL = ['test/guest/boot.test.ts', 'test/doctor/real-host.test.ts', 'test/e2e/**/*.test.ts', 'test/nested/host.real.test.ts']
/**
 * The short soak (`npm run test:soak`; bench/soak.ts): its interrupt and cycle parts pass here, but
 * its SIGKILL part cannot yet set up its libvirt lab with hugepages (`virsh start` exits 1, not yet
 * diagnosed) and two different labs up at once leave an empty run base: not part of `npm test`
 * until both are fixed.
 */
const SOAK = ['test/e2e/soak.test.ts']
/**
 * The shipped labs run inside a nested lab host (vhost-net, sriov-igb through --host): not yet
 * reliable on our 2-core machines (L2 guests fall back to TCG inside TCG when L1's KVM probe runs
 * under load, and then miss their boot timeout), so they are not part of `npm test`:
 * `npm run test:nested-labs` runs them.
 */
const NESTED_LABS = ['test/nested/labs.real.test.ts']

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      {extends: true, test: {name: 'unit', include: ['test/**/*.test.ts'], exclude: [...REAL, ...NESTED_LABS]}},
      {
        extends: true,
        test: {
          name: 'real',
          include: REAL,
          exclude: SOAK,
          fileParallelism: false,
          globalSetup: ['test/real-setup.ts', 'test/nested/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'soak',
          include: SOAK,
          fileParallelism: false,
          globalSetup: ['test/real-setup.ts'],
          testTimeout: 3_600_000,
          hookTimeout: 600_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'nested-labs',
          include: NESTED_LABS,
          fileParallelism: false,
          globalSetup: ['test/real-setup.ts', 'test/nested/global-setup.ts'],
          testTimeout: 1_800_000,
          hookTimeout: 1_800_000,
        },
      },
    ],
  },
})

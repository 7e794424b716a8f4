/**
 * DPDK's dpdk-testpmd as a measurement tool, in the vhost-user <-> virtio-user loopback that
 * DPDK's own vhost tests use: the "server" is a testpmd with a vhost-user port
 * (`--vdev net_vhost0,iface=SOCK`, io forwarding), the "client" a testpmd with a virtio-user port
 * on the same socket (`--vdev net_virtio_user0,path=SOCK --single-file-segments`: without it
 * virtio-user fails with "Too many memory regions"), io forwarding, `--tx-first` to put one burst
 * of `--txpkts` bytes into the loop. Both run non-interactively with `--stats-period`, so stdin
 * is not read (it must still be open: the runner gives /dev/null); they stop on SIGINT and then
 * print their forward statistics. `--no-pci`: DPDK never probes the host's PCI devices.
 * Options: https://doc.dpdk.org/guides-22.11/testpmd_app_ug/run_app.html and
 * https://doc.dpdk.org/guides-22.11/linux_gsg/linux_eal_parameters.html
 */
import {VirtlabError} from '../../errors.js'
import {type TestpmdForwardStats, type TestpmdPortStats, type TestpmdSnapshot, parseTestpmdForwardStats, parseTestpmdStatsStream, steadyWindows} from '../testpmd.js'
import type {MeasurementTool} from '../tool.js'

export const TESTPMD_PROGRAM = 'dpdk-testpmd'
/** Frame sizes (bytes handed to the PMD, Ethernet header included, no FCS: virtio carries none). */
export const MIN_FRAME_BYTES = 64
export const MAX_FRAME_BYTES = 2000

export interface TestpmdCommon {
  /** The vhost-user socket both sides use. */
  socketPath: string
  /** The lcore that forwards (polls) and the main lcore (prints the stats, sleeps otherwise). */
  fwdCore: number
  mainCore: number
  /** EAL --file-prefix: its own /var/run/dpdk/<prefix> and hugepage files. */
  filePrefix: string
  /** EAL -m: MiB of hugepage memory. */
  memoryMb: number
  /** EAL --huge-dir (when virtlab mounted its own hugetlbfs). */
  hugeDir?: string | undefined
  statsPeriodS: number
  /** --total-num-mbufs (testpmd's default pool takes ~400 MiB). */
  mbufs: number
  /** EAL -v: print the DPDK version at start-up (for provenance). */
  printVersion?: boolean | undefined
  program?: string
}

export type TestpmdVhostSpec = TestpmdCommon

export interface TestpmdVirtioUserSpec extends TestpmdCommon {
  /** --txpkts: the frame size in bytes. */
  frameBytes: number
}

export interface TestpmdRun {
  snapshots: TestpmdSnapshot[]
  /** Windows with traffic after the first (steady state), port 0. */
  steady: TestpmdPortStats[]
  /** The exit summary; undefined when testpmd did not stop cleanly. */
  forward: TestpmdForwardStats[] | undefined
}

const PREFIX = /^[a-z][a-z0-9-]{0,47}$/
const PATH = /^\/[A-Za-z0-9._/-]{1,200}$/

function int(what: string, value: number, min: number, max: number): string {
  if (!Number.isInteger(value) || value < min || value > max) throw new VirtlabError('MEASURE_BAD_SPEC', `testpmd ${what} must be an integer in ${min}..${max}, got ${value}`)
  return String(value)
}

function eal(spec: TestpmdCommon): string[] {
  if (!PATH.test(spec.socketPath) || spec.socketPath.includes('..')) throw new VirtlabError('MEASURE_BAD_SPEC', `testpmd socket path "${spec.socketPath}" is not a plain absolute path`)
  if (!PREFIX.test(spec.filePrefix)) throw new VirtlabError('MEASURE_BAD_SPEC', `testpmd file prefix "${spec.filePrefix}" must match ${PREFIX.source}`)
  if (spec.fwdCore === spec.mainCore) throw new VirtlabError('MEASURE_BAD_SPEC', `testpmd needs a main lcore besides the forwarding lcore (both are ${spec.fwdCore})`)
  const argv = [
    spec.program ?? TESTPMD_PROGRAM,
    ...(spec.printVersion === true ? ['-v'] : []),
    '-l', `${int('main lcore', spec.mainCore, 0, 1023)},${int('forwarding lcore', spec.fwdCore, 0, 1023)}`,
    '--main-lcore', String(spec.mainCore),
    '--no-pci',
    '--file-prefix', spec.filePrefix,
    '-m', int('memory (MiB)', spec.memoryMb, 16, 65536),
  ]
  if (spec.hugeDir !== undefined) {
    if (!PATH.test(spec.hugeDir) || spec.hugeDir.includes('..')) throw new VirtlabError('MEASURE_BAD_SPEC', `testpmd huge dir "${spec.hugeDir}" is not a plain absolute path`)
    argv.push('--huge-dir', spec.hugeDir)
  }
  return argv
}

function app(spec: TestpmdCommon): string[] {
  return ['--forward-mode=io', `--stats-period=${int('stats period', spec.statsPeriodS, 1, 60)}`, `--total-num-mbufs=${int('mbufs', spec.mbufs, 1024, 1 << 20)}`]
}

export function testpmdVhostArgv(spec: TestpmdVhostSpec): string[] {
  return [...eal(spec), '--vdev', `net_vhost0,iface=${spec.socketPath}`, '--', ...app(spec)]
}

export function testpmdVirtioUserArgv(spec: TestpmdVirtioUserSpec): string[] {
  return [
    ...eal(spec), '--single-file-segments', '--vdev', `net_virtio_user0,path=${spec.socketPath}`, '--',
    ...app(spec), '--tx-first', `--txpkts=${int('frame size (--txpkts)', spec.frameBytes, MIN_FRAME_BYTES, MAX_FRAME_BYTES)}`,
  ]
}

export function parseTestpmdRun(output: string): TestpmdRun {
  const snapshots = parseTestpmdStatsStream(output)
  return {snapshots, steady: steadyWindows(snapshots), forward: parseTestpmdForwardStats(output)}
}

export const testpmdTool: MeasurementTool<TestpmdVhostSpec, TestpmdVirtioUserSpec, TestpmdRun> = {
  name: 'testpmd',
  program: TESTPMD_PROGRAM,
  measures: {
    summary: 'packet rate (Mpps) and bit rate per frame size through a DPDK port, from testpmd\'s own port statistics; sent/received counters from its forward statistics',
    figures: ['mpps', 'gbps', 'txPackets', 'rxPackets', 'lostPackets'],
  },
  serverArgv: testpmdVhostArgv,
  clientArgv: testpmdVirtioUserArgv,
  parse: (output) => parseTestpmdRun(output),
}

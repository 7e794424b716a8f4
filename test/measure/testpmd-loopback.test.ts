/**
 * testpmd as a measurement tool and the loopback benchmark's orchestration: parsers on output
 * recorded from real dpdk-testpmd runs (test/fixtures/testpmd/README.md), the argv, and the
 * orchestration against a fake runner and a fixture tree (hugepages reserved and restored, its own
 * hugetlbfs mounted and unmounted, every file it created removed, also on failure).
 */
import {mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {RootedFs} from '../../src/host/fs.js'
import type {RunResult} from '../../src/host/runner.js'
import {countersConsistent, frameRateCase, loopbackTrial, measureLoopback} from '../../src/measure/loopback.js'
import {parseTestpmdForwardStats, parseTestpmdStatsStream} from '../../src/measure/testpmd.js'
import {TOOLS, toolNames} from '../../src/measure/tools/index.js'
import {parseTestpmdRun, testpmdVhostArgv, testpmdVirtioUserArgv} from '../../src/measure/tools/testpmd.js'
import {loopbackDocument} from '../../src/app/bench.js'
import {resultProblems} from '../../src/measure/result.js'
import {FakeRunner} from '../helpers/fake-runner.js'
import {testpmdFixture} from './helpers.js'

describe('the measurement-tool registry', () => {
  it('holds iperf3 and testpmd, each saying what it measures', () => {
    expect(toolNames()).toEqual(['iperf3', 'testpmd'])
    for (const name of toolNames()) {
      expect(TOOLS[name].name).toBe(name)
      expect(TOOLS[name].measures.summary.length).toBeGreaterThan(10)
    }
    expect(TOOLS.iperf3.serverArgv({port: 5201})).toEqual(['iperf3', '-s', '-p', '5201'])
  })
})

describe('testpmd --stats-period output (recorded)', () => {
  it('reads every periodic snapshot and the exit summary of the vhost side, 1518 B', () => {
    const text = testpmdFixture('loopback-1518-vhost.out')
    const snapshots = parseTestpmdStatsStream(text)
    expect(snapshots).toHaveLength(9)
    expect(snapshots.map((s) => s.ports[0]?.rxPps)).toEqual([0, 0, 0, 0, 0, 0, 22918, 72426, 47299])
    expect(snapshots[7]?.ports[0]).toMatchObject({port: 0, rxBps: 879544672, rxMissed: 0})
    expect(parseTestpmdForwardStats(text)).toEqual([{port: 0, rxPackets: 190208, rxDropped: 0, txPackets: 190208, txDropped: 0}])
    // Steady: after the first window with traffic; the last one is kept (traffic ran to the end).
    expect(parseTestpmdRun(text).steady.map((p) => p.rxPps)).toEqual([72426, 47299])
  })

  it('the virtio-user side of the 64 B run: one (idle) snapshot, and its summary', () => {
    const run = parseTestpmdRun(testpmdFixture('loopback-64-virtio-user.out'))
    expect(run.snapshots).toHaveLength(1)
    expect(run.steady).toEqual([])
    expect(run.forward).toEqual([{port: 0, rxPackets: 431232, rxDropped: 0, txPackets: 431264, txDropped: 0}])
  })

  it('a trial: Mpps and Gbit/s from the vhost side, counters that add up (one 32-packet burst in flight)', () => {
    const trial = loopbackTrial(1, new Date('2026-12-01T20:00:00Z'), parseTestpmdRun(testpmdFixture('loopback-1518-vhost.out')), parseTestpmdRun(testpmdFixture('loopback-1518-virtio-user.out')), 2, 8)
    expect(trial.mpps).toBeCloseTo((72426 + 47299) / 2 / 1e6, 5)
    expect(trial.gbps).toBeCloseTo((879544672 + 574399600) / 2 / 1e9, 5)
    // 1518-byte frames: testpmd's bps is the frame bytes x 8.
    expect(trial.gbps / trial.mpps).toBeCloseTo(1518 * 8 / 1000, 3)
    expect(trial.forward).toEqual({sent: 190208, received: 190208, lost: 0})
    expect(trial.reverse).toEqual({sent: 190208, received: 190176, lost: 32})
    expect(countersConsistent(trial)).toBe(true)
    expect(countersConsistent({...trial, reverse: {sent: 190208, received: 180000, lost: 10208}})).toBe(false)
    const c = frameRateCase(1518, [trial])
    expect(c).toMatchObject({tool: 'testpmd', id: 'frames-1518', countersConsistent: true, noisy: false})
  })

  it('no steady window is LOOPBACK_NO_TRAFFIC', () => {
    const idle = parseTestpmdRun(testpmdFixture('loopback-64-virtio-user.out'))
    expect(() => loopbackTrial(1, new Date(), idle, idle, 0)).toThrow(expect.objectContaining({code: 'LOOPBACK_NO_TRAFFIC'}))
  })
})

describe('testpmd argv', () => {
  const common = {socketPath: '/run/virtlab/bench-loopback/vhost.sock', memoryMb: 256, statsPeriodS: 1, mbufs: 8192}
  it('vhost side and virtio-user side: --no-pci, own prefixes, io forwarding, --tx-first with --txpkts', () => {
    expect(testpmdVhostArgv({...common, fwdCore: 1, mainCore: 0, filePrefix: 'p-vhost'})).toEqual([
      'dpdk-testpmd', '-l', '0,1', '--main-lcore', '0', '--no-pci', '--file-prefix', 'p-vhost', '-m', '256',
      '--vdev', 'net_vhost0,iface=/run/virtlab/bench-loopback/vhost.sock', '--', '--forward-mode=io', '--stats-period=1', '--total-num-mbufs=8192',
    ])
    expect(testpmdVirtioUserArgv({...common, fwdCore: 0, mainCore: 1, filePrefix: 'p-virtio', frameBytes: 64, hugeDir: '/run/x/hugepages'})).toEqual([
      'dpdk-testpmd', '-l', '1,0', '--main-lcore', '1', '--no-pci', '--file-prefix', 'p-virtio', '-m', '256', '--huge-dir', '/run/x/hugepages',
      '--single-file-segments', '--vdev', 'net_virtio_user0,path=/run/virtlab/bench-loopback/vhost.sock', '--',
      '--forward-mode=io', '--stats-period=1', '--total-num-mbufs=8192', '--tx-first', '--txpkts=64',
    ])
  })

  it('refuses devargs injection, bad prefixes, one core for both, odd sizes', () => {
    const bad = (f: () => unknown) => expect(f).toThrow(expect.objectContaining({code: 'MEASURE_BAD_SPEC'}))
    bad(() => testpmdVhostArgv({...common, socketPath: '/tmp/s,iface=/etc/x', fwdCore: 1, mainCore: 0, filePrefix: 'a'}))
    bad(() => testpmdVhostArgv({...common, socketPath: '/tmp/../etc/s', fwdCore: 1, mainCore: 0, filePrefix: 'a'}))
    bad(() => testpmdVhostArgv({...common, fwdCore: 1, mainCore: 0, filePrefix: '--in-memory'}))
    bad(() => testpmdVhostArgv({...common, fwdCore: 1, mainCore: 1, filePrefix: 'a'}))
    bad(() => testpmdVirtioUserArgv({...common, fwdCore: 0, mainCore: 1, filePrefix: 'a', frameBytes: 32}))
  })
})

describe('measureLoopback orchestration (fake runner, fixture tree)', () => {
  let root: string
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'virtlab-loopback-'))
    mkdirSync(join(root, 'proc/sys/vm'), {recursive: true})
    mkdirSync(join(root, 'run/virtlab'), {recursive: true})
    writeFileSync(join(root, 'proc/sys/vm/nr_hugepages'), '7\n')
    writeFileSync(join(root, 'proc/loadavg'), '0.50 0.40 0.30 1/100 42\n')
    writeFileSync(join(root, 'proc/cpuinfo'), 'processor\t: 0\nprocessor\t: 1\n')
  })
  afterEach(() => rmSync(root, {recursive: true, force: true}))

  function host(opts: {virtioExit?: number} = {}) {
    const hugepageWrites: string[] = []
    let releaseVhost: () => void = () => {}
    const runner = new FakeRunner(async (argv): Promise<RunResult> => {
      const ok = {argv, exitCode: 0, stdout: '', stderr: ''}
      if (argv[0] === 'mount' || argv[0] === 'umount') return ok
      const vdev = argv[argv.indexOf('--vdev') + 1] ?? ''
      const size = /--txpkts=(\d+)/.exec(argv.join(' '))?.[1]
      if (vdev.startsWith('net_vhost0')) {
        hugepageWrites.push(readFileSync(join(root, 'proc/sys/vm/nr_hugepages'), 'utf8').trim())
        const sock = vdev.replace(/^net_vhost0,iface=/, '')
        mkdirSync(join(root, 'var/run/dpdk/virtlab-loopback-vhost'), {recursive: true})
        writeFileSync(join(root, sock), '')
        await new Promise<void>((resolve) => { releaseVhost = resolve })
        return {...ok, exitCode: 124, stdout: testpmdFixture('loopback-1518-vhost.out'), stderr: "EAL: RTE Version: 'DPDK 22.11.11'\n"}
      }
      mkdirSync(join(root, 'var/run/dpdk/virtlab-loopback-virtio'), {recursive: true})
      releaseVhost()
      if (opts.virtioExit !== undefined) return {...ok, exitCode: opts.virtioExit, stderr: 'EAL: Error - exiting with code: 1\n  Cause: No probed ethernet devices'}
      expect(size).toBeDefined()
      return {...ok, exitCode: 124, stdout: testpmdFixture('loopback-1518-virtio-user.out')}
    })
    const env = {runner, fs: new RootedFs(root), clock: () => new Date(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms))}
    return {runner, env, hugepageWrites}
  }

  it('runs both sides per frame size under timeout -s INT, restores hugepages, removes what it created', async () => {
    const {runner, env, hugepageWrites} = host()
    const m = await measureLoopback({runDir: '/run/virtlab/bench-loopback', frameSizes: [64, 1518], durationS: 3, startupS: 2}, env)
    expect(m.frameRates.map((f) => f.frameBytes)).toEqual([64, 1518])
    expect(m.frameRates[0]?.trials[0]?.forward).toEqual({sent: 190208, received: 190208, lost: 0})
    expect(m.dpdkVersion).toBe('22.11.11')
    expect(m.hugepages).toEqual({before: 7, during: 7 + 256 + 32, after: 7})
    expect(hugepageWrites).toEqual(['295', '295'])
    expect(readFileSync(join(root, 'proc/sys/vm/nr_hugepages'), 'utf8').trim()).toBe('7')
    const testpmds = runner.callsMatching(/dpdk-testpmd/)
    expect(testpmds).toHaveLength(4)
    for (const argv of testpmds) {
      expect(argv.slice(0, 4)).toEqual(['timeout', '-s', 'INT', '-k'])
      expect(argv).toContain('--no-pci')
      expect(argv).toContain('--huge-dir')
    }
    expect(runner.callsMatching(/--txpkts=64/)).toHaveLength(1)
    expect(runner.calls[0]).toEqual(['mount', '-t', 'hugetlbfs', '-o', 'pagesize=2M', 'nodev', '/run/virtlab/bench-loopback/hugepages'])
    expect(runner.calls.at(-1)).toEqual(['umount', '/run/virtlab/bench-loopback/hugepages'])
    expect(existsSync(join(root, 'run/virtlab/bench-loopback'))).toBe(false)
    expect(existsSync(join(root, 'run/virtlab'))).toBe(true) // it existed before
    expect(existsSync(join(root, 'var/run/dpdk'))).toBe(false) // created by the run, removed empty
    expect(m.commands.map((c) => c.argv[0])).toEqual(['mount', 'timeout', 'timeout', 'timeout', 'timeout', 'umount'])
    const doc = loopbackDocument(m, {virtlab: '0.1.0', host: {kernel: null, cpuModel: null, cpuCount: 2}, versions: {qemu: null, libvirt: null, ovs: null, dpdk: m.dpdkVersion, iperf3: null}, accel: null, commands: m.commands})
    expect(resultProblems(doc)).toEqual([])
    expect(doc.test.tool).toBe('testpmd')
    expect(doc.datapath.verified).toBe(true)
    expect(doc.degraded).toEqual([])
  })

  it('a testpmd failure is TESTPMD_FAILED with its stderr, and everything is still restored', async () => {
    const {runner, env} = host({virtioExit: 1})
    await expect(measureLoopback({runDir: '/run/virtlab/bench-loopback', frameSizes: [64], durationS: 3, startupS: 2}, env)).rejects.toMatchObject({code: 'TESTPMD_FAILED'})
    expect(readFileSync(join(root, 'proc/sys/vm/nr_hugepages'), 'utf8').trim()).toBe('7')
    expect(runner.calls.at(-1)?.[0]).toBe('umount')
    expect(existsSync(join(root, 'run/virtlab/bench-loopback'))).toBe(false)
    expect(readdirSync(join(root, 'run/virtlab'))).toEqual([])
    expect(existsSync(join(root, 'var/run/dpdk'))).toBe(false)
  })

  it('refuses to run over a DPDK runtime directory it did not create; a busy host is labelled noisy', async () => {
    mkdirSync(join(root, 'var/run/dpdk/virtlab-loopback-vhost'), {recursive: true})
    const {runner, env} = host()
    await expect(measureLoopback({runDir: '/run/virtlab/bench-loopback', frameSizes: [64], durationS: 3}, env)).rejects.toMatchObject({code: 'LOOPBACK_BUSY'})
    expect(runner.calls).toEqual([])
    expect(existsSync(join(root, 'var/run/dpdk/virtlab-loopback-vhost'))).toBe(true)
    expect(readFileSync(join(root, 'proc/sys/vm/nr_hugepages'), 'utf8').trim()).toBe('7')
    rmSync(join(root, 'var/run/dpdk'), {recursive: true})
    writeFileSync(join(root, 'proc/loadavg'), '16.80 17.12 15.70 11/342 3526\n')
    const busy = host()
    const m = await measureLoopback({runDir: '/run/virtlab/bench-loopback', frameSizes: [64], durationS: 3, startupS: 2}, busy.env)
    const doc = loopbackDocument(m, {virtlab: '0.1.0', host: {kernel: null, cpuModel: null, cpuCount: 2}, versions: {qemu: null, libvirt: null, ovs: null, dpdk: null, iperf3: null}, accel: null, commands: m.commands})
    expect(doc.degraded[0]).toMatch(/^noisy: host load average 16\.80 on 2 CPU/)
  })
})

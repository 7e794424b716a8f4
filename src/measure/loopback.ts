/**
 * The software ceiling: DPDK's own vhost-user <-> virtio-user forwarding on the target host, no VM.
 * One testpmd owns a vhost-user port (io forwarding, on one core), a second testpmd attaches a
 * virtio-user port to the same socket (io forwarding, `--tx-first`, on the other core); the burst it
 * sends first circulates between the two as fast as the two polling cores move it. Per frame size
 * (`--txpkts`) the result is the packet rate and bit rate from testpmd's own port statistics
 * (`--stats-period`), and the sent/received counters of both sides from their exit summaries.
 *
 * Everything goes through the target's runner and fs. Bounded: each testpmd runs under
 * `timeout -s INT` (testpmd stops cleanly on SIGINT and prints its forward statistics), and the
 * runner's own timeout is the backstop. Nothing is left behind: 2 MiB hugepages are added to
 * /proc/sys/vm/nr_hugepages for the run and the previous value written back; a hugetlbfs of its own
 * is mounted in the run directory and unmounted; each testpmd's /var/run/dpdk/<file-prefix> (which
 * must not exist before: virtlab never deletes what it did not create), the socket and the run
 * directory are removed.
 */
import {VirtlabError, isVirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import type {CommandRunner, RunResult} from '../host/runner.js'
import type {Clock} from './provenance.js'
import {parseDpdkVersion} from './provenance.js'
import type {CommandRecord, FrameRateResult, FrameRateTrialResult} from './result-schema.js'
import {DEFAULT_NOISE_THRESHOLD_PCT, isNoisy, median, round, summarize} from './stats.js'
import {MAX_FRAME_BYTES, MIN_FRAME_BYTES, type TestpmdRun, testpmdTool} from './tools/testpmd.js'

export const DEFAULT_LOOPBACK_FRAME_SIZES = [64, 128, 256, 512, 1024, 1518]
/** testpmd's io forwarding moves bursts of 32; --tx-first puts one burst in the loop. */
export const BURST = 32
const HUGEPAGES_FILE = '/proc/sys/vm/nr_hugepages'
const DPDK_RUNTIME = '/var/run/dpdk'

export interface LoopbackOptions {
  frameSizes?: number[] | undefined
  /** Seconds of traffic per trial (the virtio-user side's run, EAL start-up excluded). */
  durationS?: number | undefined
  trials?: number | undefined
  statsPeriodS?: number | undefined
  /** Where the socket and the hugetlbfs mount go (created and removed by the run). */
  runDir: string
  /** Lcores: the vhost side forwards on `vhostCore`, the virtio-user side on `virtioCore`; each uses the other as its (mostly sleeping) main lcore. */
  vhostCore?: number | undefined
  virtioCore?: number | undefined
  /** MiB of hugepage memory per testpmd (EAL -m); 2 MiB pages reserved = 2 x this / 2 + slack. */
  memoryMb?: number | undefined
  noiseThresholdPct?: number | undefined
  /** Seconds allowed for EAL start-up of each side (busy hosts are slow). */
  startupS?: number | undefined
}

export interface LoopbackProgress {
  title: string
  detail?: string
}

export interface LoopbackEnv {
  runner: CommandRunner
  fs: HostFs
  clock: Clock
  sleep: (ms: number) => Promise<void>
  progress?: (event: LoopbackProgress) => void
  signal?: AbortSignal | undefined
}

export interface LoopbackMeasurement {
  startedAt: string
  finishedAt: string
  frameSizes: number[]
  durationS: number
  trials: number
  noiseThresholdPct: number
  frameRates: FrameRateResult[]
  commands: CommandRecord[]
  /** From testpmd's own `-v` banner ("EAL: RTE Version: 'DPDK 22.11.11'"). */
  dpdkVersion: string | null
  /** What was reserved and restored. */
  hugepages: {before: number; during: number; after: number}
  /** /proc/loadavg (1 min) before the run and the CPU count: two polling cores need two idle CPUs. */
  load: {avg1: number | null; cpus: number | null}
}

const VHOST_PREFIX = 'virtlab-loopback-vhost'
const VIRTIO_PREFIX = 'virtlab-loopback-virtio'

function timeoutArgv(seconds: number, argv: string[]): string[] {
  return ['timeout', '-s', 'INT', '-k', '5', String(Math.max(1, Math.ceil(seconds))), ...argv]
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new VirtlabError('MEASURE_INTERRUPTED', 'loopback benchmark interrupted', {cause: signal.reason})
}

/** The frame sizes, validated (64..2000 bytes, as testpmd's default mbuf holds them in one segment). */
export function checkFrameSizes(sizes: readonly number[]): number[] {
  if (sizes.length === 0 || sizes.length > 32) throw new VirtlabError('MEASURE_BAD_SPEC', 'give 1..32 frame sizes')
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < MIN_FRAME_BYTES || size > MAX_FRAME_BYTES) {
      throw new VirtlabError('MEASURE_BAD_SPEC', `frame size ${size} is outside ${MIN_FRAME_BYTES}..${MAX_FRAME_BYTES} bytes`, {hint: 'Frame sizes are the bytes testpmd sends (--txpkts), e.g. 64,128,256,512,1024,1518.'})
    }
  }
  return [...sizes]
}

/** One trial's figures from the two sides' output (pure). */
export function loopbackTrial(index: number, startedAt: Date, vhost: TestpmdRun, virtio: TestpmdRun, command: number, elapsedS?: number): FrameRateTrialResult {
  if (vhost.steady.length === 0) {
    throw new VirtlabError('LOOPBACK_NO_TRAFFIC', `the vhost side of the loopback saw no steady traffic (${vhost.snapshots.length} stats windows, none after the first with packets)`, {
      hint: 'The virtio-user side did not forward long enough: raise --duration, or check that the two cores are not saturated by other processes.',
    })
  }
  const mpps = median(vhost.steady.map((p) => p.rxPps)) / 1e6
  const bps = vhost.steady.map((p) => p.rxBps).filter((v): v is number => v !== undefined)
  const gbps = bps.length === vhost.steady.length ? median(bps) / 1e9 : 0
  const reverse = virtio.steady.length > 0 ? median(virtio.steady.map((p) => p.rxPps)) / 1e6 : null
  const vh = vhost.forward?.find((p) => p.port === 0)
  const vu = virtio.forward?.find((p) => p.port === 0)
  const counters = (sent: number | undefined, received: number | undefined) => sent === undefined || received === undefined ? null : {sent, received, lost: sent - received}
  return {
    index,
    startedAt: startedAt.toISOString(),
    mpps: round(mpps, 6),
    gbps: round(gbps, 6),
    reverseMpps: reverse === null ? null : round(reverse, 6),
    windows: vhost.steady.length,
    forward: counters(vu?.txPackets, vh?.rxPackets),
    reverse: counters(vh?.txPackets, vu?.rxPackets),
    command,
    ...(elapsedS === undefined ? {} : {elapsedS: round(Math.max(0, elapsedS), 3)}),
  }
}

/** Counters add up: per direction, sent - received is between 0 and the packets in flight (one burst). */
export function countersConsistent(trial: FrameRateTrialResult): boolean {
  return [trial.forward, trial.reverse].every((c) => c !== null && c.sent > 0 && c.lost >= 0 && c.lost <= BURST)
}

export function frameRateCase(frameBytes: number, trials: FrameRateTrialResult[], noiseThresholdPct = DEFAULT_NOISE_THRESHOLD_PCT): FrameRateResult {
  const mpps = summarize(trials.map((t) => t.mpps))
  const gbps = summarize(trials.map((t) => t.gbps))
  const out = (s: ReturnType<typeof summarize>) => ({n: s.n, median: round(s.median, 6), min: round(s.min, 6), max: round(s.max, 6), mean: round(s.mean, 6), stddev: round(s.stddev, 6), cvPct: round(s.cvPct, 4)})
  return {
    tool: testpmdTool.name,
    id: `frames-${frameBytes}`,
    frameBytes,
    trials,
    mpps: out(mpps),
    gbps: out(gbps),
    noisy: isNoisy(mpps, noiseThresholdPct),
    countersConsistent: trials.every(countersConsistent),
  }
}

function parseIntFile(text: string | undefined, what: string): number {
  const value = Number((text ?? '').trim())
  if (!Number.isInteger(value) || value < 0) throw new VirtlabError('HUGEPAGES_UNREADABLE', `cannot read ${what}`)
  return value
}

function failure(side: string, result: RunResult): VirtlabError {
  const tail = (result.stderr || result.stdout).trimEnd().split('\n').slice(-8).join('\n')
  const tooMany = /Too many memory regions/.test(result.stderr)
  return new VirtlabError('TESTPMD_FAILED', `testpmd (${side}) exited with ${result.exitCode} before it was stopped`, {
    command: {argv: result.argv, exitCode: result.exitCode, stderrTail: tail},
    hint: tooMany
      ? 'virtio-user needs --single-file-segments (virtlab passes it): is this DPDK older than 22.11?'
      : /hugepage|Cannot get hugepage|No free .*hugepages/i.test(result.stderr)
        ? 'Not enough free 2 MiB hugepages: another process holds them; run `virtlab doctor`.'
        : 'Run the same command by hand to see more (see the EAL messages above).',
  })
}

export async function measureLoopback(options: LoopbackOptions, env: LoopbackEnv): Promise<LoopbackMeasurement> {
  const {runner, fs} = env
  const frameSizes = checkFrameSizes(options.frameSizes ?? DEFAULT_LOOPBACK_FRAME_SIZES)
  const durationS = options.durationS ?? 8
  const trials = options.trials ?? 1
  const period = options.statsPeriodS ?? 1
  const vhostCore = options.vhostCore ?? 1
  const virtioCore = options.virtioCore ?? 0
  const memoryMb = options.memoryMb ?? 256
  const startupS = options.startupS ?? 10
  const noiseThresholdPct = options.noiseThresholdPct ?? DEFAULT_NOISE_THRESHOLD_PCT
  if (!Number.isInteger(durationS) || durationS < 2 * period + 1 || durationS > 600) throw new VirtlabError('MEASURE_BAD_SPEC', `loopback duration must be ${2 * period + 1}..600 s (three stats windows at least), got ${durationS}`)
  if (!Number.isInteger(trials) || trials < 1 || trials > 100) throw new VirtlabError('MEASURE_BAD_SPEC', `loopback trials must be 1..100, got ${trials}`)
  if (vhostCore === virtioCore) throw new VirtlabError('MEASURE_BAD_SPEC', `the two testpmds need two different cores (both are ${vhostCore})`)
  const progress = env.progress ?? (() => {})
  const commands: CommandRecord[] = []
  const record = (argv: readonly string[], at: Date, exitCode: number | null): number => {
    commands.push({endpoint: 'host', argv: [...argv], at: at.toISOString(), exitCode})
    return commands.length - 1
  }
  const startedAt = env.clock()

  if ((await runner.which(testpmdTool.program)) === undefined) {
    throw new VirtlabError('TESTPMD_MISSING', `${testpmdTool.program} is not installed on the target`, {hint: 'Install Debian\'s dpdk-dev (it provides dpdk-testpmd): apt-get install dpdk-dev'})
  }
  for (const prefix of [VHOST_PREFIX, VIRTIO_PREFIX]) {
    if (await fs.exists(`${DPDK_RUNTIME}/${prefix}`)) {
      throw new VirtlabError('LOOPBACK_BUSY', `${DPDK_RUNTIME}/${prefix} exists: another loopback benchmark is running, or one was killed`, {
        hint: `If no dpdk-testpmd is running, remove ${DPDK_RUNTIME}/${prefix} and run again (virtlab does not delete what it did not create).`,
      })
    }
  }
  if (await fs.exists(options.runDir)) {
    throw new VirtlabError('LOOPBACK_BUSY', `${options.runDir} exists: another loopback benchmark is running, or one was killed`, {hint: `If no dpdk-testpmd is running, unmount and remove ${options.runDir}.`})
  }
  const loadText = await fs.tryReadFile('/proc/loadavg')
  const avg1 = loadText === undefined ? null : Number(loadText.split(/\s+/)[0])
  const cpuinfo = await fs.tryReadFile('/proc/cpuinfo')
  const cpus = cpuinfo === undefined ? null : (cpuinfo.match(/^processor\s*:/gm) ?? []).length || null
  if (cpus !== null && Math.max(vhostCore, virtioCore) >= cpus) {
    throw new VirtlabError('MEASURE_BAD_SPEC', `cores ${virtioCore} and ${vhostCore} do not both exist: the target has ${cpus} CPU(s)`, {hint: 'The loopback needs two cores, one per polling testpmd.'})
  }

  const hugeDir = `${options.runDir}/hugepages`
  const socketPath = `${options.runDir}/vhost.sock`
  const before = parseIntFile(await fs.tryReadFile(HUGEPAGES_FILE), HUGEPAGES_FILE)
  // Both sides' -m plus slack for the EAL's own allocations.
  const wanted = before + Math.ceil((2 * memoryMb) / 2) + 32
  let during = before
  let mounted = false
  let dpdkVersion: string | null = null
  const frameRates: FrameRateResult[] = []
  let restored = before
  const parent = options.runDir.replace(/\/[^/]+\/?$/, '') || '/'
  const parentExisted = await fs.exists(parent)
  const runtimeExisted = await fs.exists(DPDK_RUNTIME)
  try {
    await fs.mkdir(options.runDir, {mode: 0o700})
    await fs.mkdir(hugeDir, {mode: 0o700})
    await fs.writeFile(HUGEPAGES_FILE, `${wanted}\n`)
    during = parseIntFile(await fs.tryReadFile(HUGEPAGES_FILE), HUGEPAGES_FILE)
    if (during < wanted) {
      throw new VirtlabError('HUGEPAGES_SHORT', `asked the kernel for ${wanted} 2 MiB hugepages, got ${during}`, {hint: 'Memory is fragmented or taken: free memory, or lower the benchmark\'s memory.'})
    }
    const mountArgv = ['mount', '-t', 'hugetlbfs', '-o', 'pagesize=2M', 'nodev', hugeDir]
    await runner.run(mountArgv, {timeoutMs: 10_000})
    record(mountArgv, env.clock(), 0)
    mounted = true

    const common = {socketPath, memoryMb, hugeDir, statsPeriodS: period, mbufs: 8192}
    for (const frameBytes of frameSizes) {
      const results: FrameRateTrialResult[] = []
      for (let index = 1; index <= trials; index += 1) {
        checkAbort(env.signal)
        progress({title: `loopback ${frameBytes} B: trial ${index}/${trials}`, detail: `${durationS} s of traffic`})
        const vhostFull = testpmdTool.serverArgv({...common, fwdCore: vhostCore, mainCore: virtioCore, filePrefix: VHOST_PREFIX, printVersion: true})
        const virtioBase = testpmdTool.clientArgv({...common, fwdCore: virtioCore, mainCore: vhostCore, filePrefix: VIRTIO_PREFIX, frameBytes})
        // The vhost side outlives the virtio-user side: its budget covers its start-up, the virtio side's start-up and traffic, and two windows.
        const vhostBudgetS = 2 * startupS + durationS + 2 * period + 2
        const vhostCommand = timeoutArgv(vhostBudgetS, vhostFull)
        const vhostAt = env.clock()
        const vhostRun = runner.run(vhostCommand, {timeoutMs: (vhostBudgetS + 15) * 1000, allowFailure: true, ...(env.signal === undefined ? {} : {signal: env.signal})})
        let vhostSettled: RunResult | undefined
        let vhostError: unknown
        const vhostDone = vhostRun.then((r) => { vhostSettled = r }, (error: unknown) => { vhostError = error })
        try {
          // Wait for the vhost side's socket (it listens once its EAL is up).
          const deadline = vhostAt.getTime() + startupS * 1000
          while (!(await fs.exists(socketPath))) {
            if (vhostSettled !== undefined) throw failure('vhost', vhostSettled)
            if (vhostError !== undefined) throw vhostError
            checkAbort(env.signal)
            if (env.clock().getTime() > deadline) throw new VirtlabError('TESTPMD_FAILED', `the vhost-side testpmd did not create ${socketPath} within ${startupS} s`, {hint: 'The host may be too busy; raise the start-up allowance or run when it is idle.'})
            await env.sleep(100)
          }
          // Stop the virtio-user side two windows before the vhost side, so the vhost side's last windows see the stop.
          const leftS = vhostBudgetS - (env.clock().getTime() - vhostAt.getTime()) / 1000 - 2 * period - 1
          if (leftS < durationS) throw new VirtlabError('TESTPMD_FAILED', `the vhost side took too long to start (${Math.round(vhostBudgetS - leftS)} s): no time left for ${durationS} s of traffic`)
          const virtioS = Math.min(leftS, startupS + durationS)
          const virtioCommand = timeoutArgv(virtioS, virtioBase)
          const virtioAt = env.clock()
          const virtio = await runner.run(virtioCommand, {timeoutMs: (virtioS + 15) * 1000, allowFailure: true, ...(env.signal === undefined ? {} : {signal: env.signal})})
          const elapsedS = (env.clock().getTime() - virtioAt.getTime()) / 1000
          const command = record(virtioCommand, virtioAt, virtio.exitCode)
          if (virtio.exitCode !== 124) throw failure('virtio-user', virtio)
          await vhostDone
          if (vhostError !== undefined) throw vhostError
          const vhost = vhostSettled as RunResult
          record(vhostCommand, vhostAt, vhost.exitCode)
          if (vhost.exitCode !== 124) throw failure('vhost', vhost)
          dpdkVersion ??= parseDpdkVersion(vhost.stderr) ?? parseDpdkVersion(vhost.stdout)
          const trial = loopbackTrial(index, virtioAt, testpmdTool.parse(vhost.stdout), testpmdTool.parse(virtio.stdout), command, elapsedS)
          results.push(trial)
          progress({title: `loopback ${frameBytes} B: ${trial.mpps.toFixed(3)} Mpps, ${trial.gbps.toFixed(3)} Gbit/s`, detail: `${trial.windows} windows; sent ${trial.forward?.sent ?? '?'} received ${trial.forward?.received ?? '?'}`})
        } finally {
          // Whatever happened, the vhost side is bounded by its timeout: wait for it, then clean its files.
          await vhostDone
          for (const prefix of [VIRTIO_PREFIX, VHOST_PREFIX]) await fs.remove(`${DPDK_RUNTIME}/${prefix}`, {recursive: true}).catch(() => {})
          await fs.remove(socketPath).catch(() => {})
        }
      }
      frameRates.push(frameRateCase(frameBytes, results, noiseThresholdPct))
    }
  } finally {
    if (mounted) {
      const umount = ['umount', hugeDir]
      try {
        await runner.run(umount, {timeoutMs: 10_000})
        record(umount, env.clock(), 0)
      } catch (error) {
        progress({title: `could not unmount ${hugeDir}: ${isVirtlabError(error) ? error.message : String(error)}`})
      }
    }
    // Only what this run created, only when empty (a still-mounted hugetlbfs is left for the user, with the message above).
    const removeEmpty = async (dir: string): Promise<void> => {
      if ((await fs.exists(dir)) && (await fs.readdir(dir)).length === 0) await fs.remove(dir, {recursive: true}).catch(() => {})
    }
    await removeEmpty(hugeDir)
    await removeEmpty(options.runDir)
    if (!parentExisted) await removeEmpty(parent)
    // /var/run/dpdk itself only when the run created it (another DPDK process may own entries there).
    if (!runtimeExisted) await removeEmpty(DPDK_RUNTIME)
    await fs.writeFile(HUGEPAGES_FILE, `${before}\n`)
    restored = parseIntFile(await fs.tryReadFile(HUGEPAGES_FILE), HUGEPAGES_FILE)
  }
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: env.clock().toISOString(),
    frameSizes,
    durationS,
    trials,
    noiseThresholdPct,
    frameRates,
    commands,
    dpdkVersion,
    hugepages: {before, during, after: restored},
    load: {avg1: avg1 !== null && Number.isFinite(avg1) ? avg1 : null, cpus},
  }
}

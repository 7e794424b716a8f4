/**
 * Is KVM actually usable here? /dev/kvm existing is not enough: in a nested or paravirtual guest a
 * KVM guest can run ~50x slower than TCG (every VM exit and every emulated instruction is very
 * expensive). So we measure: the same tiny guest runs under `-accel tcg` and under `-accel kvm`
 * and the wall times are compared. KVM is 'usable' only when it is not slower than TCG by more
 * than a clear margin.
 *
 * The guest is a 64 KiB firmware image built here as bytes and passed with -bios: 16-bit real-mode
 * code at the reset vector that runs a compute loop with a port-I/O write (a VM exit under KVM)
 * every 65535 iterations, then writes to isa-debug-exit so QEMU exits with status 33. A "null"
 * image (one iteration) measures QEMU's start-up cost under each accelerator, which is subtracted.
 *
 * The result is cached in <stateDir>/kvm-probe.json, keyed by kernel release and QEMU version.
 * Timing uses a monotonic clock (performance.now) at this edge; tests inject a clock and a runner.
 */
import type {Context} from './target.js'
import {VirtlabError, isVirtlabError} from '../errors.js'
import {QEMU_BINARY, kernelRelease, qemuVersionLine} from './probe.js'

export const KVM_PROBE_FILE = 'kvm-probe.json'
export const KVM_PROBE_VERSION = 1
/** isa-debug-exit turns a write of v into exit status (v << 1) | 1: 0x10 gives 33. */
export const PROBE_EXIT_VALUE = 0x10
export const PROBE_EXIT_STATUS = (PROBE_EXIT_VALUE << 1) | 1
/** KVM may be at most this many times slower than TCG (net of start-up) to count as usable. */
export const DEFAULT_MARGIN = 2
/** Below this, a TCG net time is noise: compare against at least this much. */
export const MIN_TCG_NET_MS = 20

export interface FirmwareShape {
  /** Outer iterations: one port-I/O write (VM exit) each. */
  outer: number
  /** Inner compute iterations per outer iteration (at most 65535). */
  inner: number
}

export const WORK_FIRMWARE: FirmwareShape = {outer: 1000, inner: 65535}
export const NULL_FIRMWARE: FirmwareShape = {outer: 1, inner: 1}

/**
 * A 64 KiB -bios image (QEMU wants a multiple of 64 KiB; it is mapped at 4 GiB - 64 KiB and
 * aliased at 0xF0000). The reset vector (offset 0xFFF0) far-jumps to F000:0000 = offset 0:
 *
 *   0: FA            cli
 *   1: BB oo oo      mov bx, outer
 *   4: B9 ii ii      mov cx, inner        ; outer:
 *   7: 01 C8         add ax, cx           ; inner:
 *   9: 31 C2         xor dx, ax
 *  11: E2 FA         loop inner
 *  13: E6 80         out 0x80, al         ; a VM exit under KVM
 *  15: 4B            dec bx
 *  16: 75 F2         jnz outer
 *  18: B0 10         mov al, 0x10
 *  20: E6 F4         out 0xf4, al         ; isa-debug-exit: QEMU exits with 33
 *  22: F4            hlt
 *  23: EB FD         jmp 22
 */
export function buildProbeFirmware(shape: FirmwareShape): Uint8Array {
  const {outer, inner} = shape
  if (!Number.isInteger(outer) || outer < 1 || outer > 0xffff) throw new VirtlabError('KVM_PROBE_SHAPE', `outer must be 1..65535 (got ${outer})`)
  if (!Number.isInteger(inner) || inner < 1 || inner > 0xffff) throw new VirtlabError('KVM_PROBE_SHAPE', `inner must be 1..65535 (got ${inner})`)
  const image = new Uint8Array(0x10000).fill(0xf4) // hlt everywhere else
  const code = [
    0xfa,
    0xbb, outer & 0xff, outer >> 8,
    0xb9, inner & 0xff, inner >> 8,
    0x01, 0xc8,
    0x31, 0xc2,
    0xe2, 0xfa,
    0xe6, 0x80,
    0x4b,
    0x75, 0xf2,
    0xb0, PROBE_EXIT_VALUE,
    0xe6, 0xf4,
    0xf4,
    0xeb, 0xfd,
  ]
  image.set(code, 0)
  image.set([0xea, 0x00, 0x00, 0x00, 0xf0], 0xfff0) // jmp far F000:0000
  return image
}

/** The QEMU argv for one probe run (no disks, no display, no network, no user config). */
export function probeArgv(qemu: string, accel: 'kvm' | 'tcg', biosPath: string): string[] {
  return [
    qemu, '-accel', accel, '-machine', 'pc', '-m', '16', '-nodefaults', '-no-user-config',
    '-display', 'none', '-serial', 'none', '-monitor', 'none', '-bios', biosPath,
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
  ]
}

export interface RunTiming {
  outcome: 'ok' | 'timeout' | 'failed'
  /** Wall time in ms (for a timeout: how long we waited). */
  ms: number
  error?: string | undefined
}

export interface KvmMeasurement {
  tcg: {null: RunTiming; work: RunTiming}
  kvm: {null: RunTiming; work: RunTiming}
  /** The limit the KVM work run was given. */
  kvmTimeoutMs: number
}

export interface KvmDecision {
  kvm: 'usable' | 'unusable'
  reason: string
  /** KVM net time / TCG net time, when both ran. */
  ratio?: number | undefined
}

const ms = (n: number) => `${Math.round(n)} ms`

/** Decide from measured timings (pure: the probe's logic, tested without QEMU). */
export function decideKvm(m: KvmMeasurement, margin = DEFAULT_MARGIN): KvmDecision {
  const {tcg, kvm} = m
  if (kvm.null.outcome !== 'ok') {
    return {kvm: 'unusable', reason: `a KVM guest did not run: ${kvm.null.outcome === 'timeout' ? `no exit within ${ms(kvm.null.ms)}` : kvm.null.error ?? 'failed'}`}
  }
  if (kvm.work.outcome === 'failed') {
    return {kvm: 'unusable', reason: `the KVM probe guest failed: ${kvm.work.error ?? 'unknown error'}`}
  }
  const tcgOk = tcg.null.outcome === 'ok' && tcg.work.outcome === 'ok'
  if (!tcgOk) {
    if (kvm.work.outcome === 'ok') {
      const bad = tcg.null.outcome === 'ok' ? tcg.work : tcg.null
      return {kvm: 'usable', reason: `the TCG reference run did not complete (${bad.error ?? bad.outcome}); the KVM probe guest ran in ${ms(kvm.work.ms)}`}
    }
    return {kvm: 'unusable', reason: `neither accelerator finished the probe guest (KVM: no exit within ${ms(m.kvmTimeoutMs)})`}
  }
  const tcgNet = Math.max(tcg.work.ms - tcg.null.ms, MIN_TCG_NET_MS)
  if (kvm.work.outcome === 'timeout') {
    return {
      kvm: 'unusable',
      reason: `the probe guest did not finish under KVM within ${ms(m.kvmTimeoutMs)}; TCG ran it in ${ms(tcg.work.ms)} (${ms(tcgNet)} net of start-up): KVM is more than ${Math.floor(Math.max(0, m.kvmTimeoutMs - kvm.null.ms) / tcgNet)}x slower`,
    }
  }
  const kvmNet = Math.max(kvm.work.ms - kvm.null.ms, 0)
  const ratio = kvmNet / tcgNet
  const shown = ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(2)
  const numbers = `KVM ${ms(kvm.work.ms)} (${ms(kvmNet)} net), TCG ${ms(tcg.work.ms)} (${ms(tcgNet)} net): KVM/TCG = ${shown}`
  return ratio <= margin
    ? {kvm: 'usable', reason: `KVM is not slower than TCG beyond ${margin}x: ${numbers}`, ratio}
    : {kvm: 'unusable', reason: `KVM is ${shown}x slower than TCG (limit ${margin}x): ${numbers}`, ratio}
}

export interface KvmProbeOptions {
  /** Monotonic milliseconds (default performance.now). */
  clock?: () => number
  /** Ignore the cache. */
  force?: boolean
  /** Never run QEMU: use the cache or report 'unusable' (not probed). */
  cachedOnly?: boolean
  margin?: number
  /** Firmware shape of the work run (tests shrink it). */
  work?: FirmwareShape
}

export interface KvmProbeResult {
  kvm: 'usable' | 'unusable' | 'absent'
  reason: string
  cached: boolean
  kernelRelease: string | undefined
  qemuVersion: string | undefined
  timings: {tcgNullMs: number; tcgWorkMs: number; kvmNullMs: number; kvmWorkMs: number | undefined} | undefined
  measurement?: KvmMeasurement | undefined
  measuredAt?: string | undefined
}

interface CacheFile {
  version: number
  key: {kernelRelease: string; qemuVersion: string}
  kvm: 'usable' | 'unusable'
  reason: string
  measurement: KvmMeasurement
  measuredAt: string
}

function timingsOf(m: KvmMeasurement): KvmProbeResult['timings'] {
  return {tcgNullMs: Math.round(m.tcg.null.ms), tcgWorkMs: Math.round(m.tcg.work.ms), kvmNullMs: Math.round(m.kvm.null.ms), kvmWorkMs: m.kvm.work.outcome === 'ok' ? Math.round(m.kvm.work.ms) : undefined}
}

async function readCache(ctx: Context, release: string, qemu: string): Promise<CacheFile | undefined> {
  let text: string | undefined
  try {
    text = await ctx.target.fs.tryReadFile(`${ctx.target.stateDir}/${KVM_PROBE_FILE}`)
  } catch {
    return undefined
  }
  if (text === undefined) return undefined
  try {
    const c = JSON.parse(text) as Partial<CacheFile>
    if (c.version !== KVM_PROBE_VERSION || c.key?.kernelRelease !== release || c.key.qemuVersion !== qemu) return undefined
    if ((c.kvm !== 'usable' && c.kvm !== 'unusable') || typeof c.reason !== 'string' || c.measurement === undefined) return undefined
    return c as CacheFile
  } catch {
    return undefined
  }
}

/** Run one probe guest and time it. */
async function timeRun(ctx: Context, argv: string[], timeoutMs: number, clock: () => number): Promise<RunTiming> {
  const start = clock()
  try {
    const r = await ctx.target.runner.run(argv, {timeoutMs, allowFailure: true})
    const elapsed = clock() - start
    if (r.exitCode === PROBE_EXIT_STATUS) return {outcome: 'ok', ms: elapsed}
    // QEMU traps the runner's SIGTERM at the timeout and exits 0 ("terminating on signal 15"),
    // so a run killed at its limit can come back as a plain exit: classify it by elapsed time.
    if (elapsed >= timeoutMs - 50) return {outcome: 'timeout', ms: elapsed}
    const tail = r.stderr.trim().split('\n').filter((l) => !/warning: host doesn't support requested feature/.test(l)).slice(-2).join(' / ')
    return {outcome: 'failed', ms: elapsed, error: `exit ${r.exitCode}${tail ? `: ${tail}` : ''}`}
  } catch (error) {
    const elapsed = clock() - start
    if (isVirtlabError(error) && error.code === 'COMMAND_TIMEOUT') return {outcome: 'timeout', ms: elapsed}
    return {outcome: 'failed', ms: elapsed, error: error instanceof Error ? error.message : String(error)}
  }
}

/** Write the firmware images under the state dir and run the four timed guests. */
export async function measureKvm(ctx: Context, options: {clock?: () => number; work?: FirmwareShape} = {}): Promise<KvmMeasurement> {
  const clock = options.clock ?? (() => performance.now())
  const dir = `${ctx.target.stateDir}/kvm-probe`
  const writeBytes = ctx.target.fs.writeBytes?.bind(ctx.target.fs)
  if (writeBytes === undefined) throw new VirtlabError('KVM_PROBE_FS', 'internal: this HostFs cannot write bytes (writeBytes missing)')
  await ctx.target.fs.mkdir(dir, {mode: 0o755})
  const nullPath = `${dir}/null.bin`
  const workPath = `${dir}/work.bin`
  await writeBytes(nullPath, buildProbeFirmware(NULL_FIRMWARE), {mode: 0o644})
  await writeBytes(workPath, buildProbeFirmware(options.work ?? WORK_FIRMWARE), {mode: 0o644})
  try {
    const nullBios = ctx.target.fs.resolve(nullPath)
    const workBios = ctx.target.fs.resolve(workPath)
    const tcgNull = await timeRun(ctx, probeArgv(QEMU_BINARY, 'tcg', nullBios), 20_000, clock)
    const tcgWork = await timeRun(ctx, probeArgv(QEMU_BINARY, 'tcg', workBios), 30_000, clock)
    const kvmNull = await timeRun(ctx, probeArgv(QEMU_BINARY, 'kvm', nullBios), 10_000, clock)
    const tcgNet = tcgNull.outcome === 'ok' && tcgWork.outcome === 'ok' ? Math.max(tcgWork.ms - tcgNull.ms, MIN_TCG_NET_MS) : 2500
    const kvmTimeoutMs = Math.round((kvmNull.outcome === 'ok' ? kvmNull.ms : 0) + Math.max(2000, 4 * tcgNet))
    const kvmWork: RunTiming = kvmNull.outcome === 'ok'
      ? await timeRun(ctx, probeArgv(QEMU_BINARY, 'kvm', workBios), kvmTimeoutMs, clock)
      : {outcome: 'failed', ms: 0, error: 'not run: the KVM null guest failed'}
    return {tcg: {null: tcgNull, work: tcgWork}, kvm: {null: kvmNull, work: kvmWork}, kvmTimeoutMs}
  } finally {
    await ctx.target.fs.remove(dir, {recursive: true}).catch(() => {})
  }
}

/**
 * Is KVM usable on this host? 'absent' without /dev/kvm (the caller checks it), otherwise measured
 * (or taken from the cache for this kernel release and QEMU version).
 */
export async function probeKvm(ctx: Context, options: KvmProbeOptions = {}): Promise<KvmProbeResult> {
  const release = (await kernelRelease(ctx.target.fs)) ?? 'unknown'
  const qemu = await qemuVersionLine(ctx)
  if (qemu === undefined) {
    return {kvm: 'unusable', reason: `${QEMU_BINARY} is not installed: KVM cannot be measured`, cached: false, kernelRelease: release, qemuVersion: undefined, timings: undefined}
  }
  if (!options.force) {
    const cached = await readCache(ctx, release, qemu)
    if (cached !== undefined) {
      return {kvm: cached.kvm, reason: cached.reason, cached: true, kernelRelease: release, qemuVersion: qemu, timings: timingsOf(cached.measurement), measurement: cached.measurement, measuredAt: cached.measuredAt}
    }
  }
  if (options.cachedOnly) {
    return {kvm: 'unusable', reason: 'accel: not yet measured on this kernel and QEMU (virtlab doctor measures it): treated as unusable', cached: false, kernelRelease: release, qemuVersion: qemu, timings: undefined}
  }
  ctx.operator.progress({type: 'info', title: 'Measuring KVM against TCG (two tiny guests each)'})
  const measurement = await measureKvm(ctx, {clock: options.clock, work: options.work})
  const decision = decideKvm(measurement, options.margin ?? DEFAULT_MARGIN)
  const measuredAt = new Date().toISOString()
  const cache: CacheFile = {version: KVM_PROBE_VERSION, key: {kernelRelease: release, qemuVersion: qemu}, kvm: decision.kvm, reason: decision.reason, measurement, measuredAt}
  try {
    await ctx.target.fs.mkdir(ctx.target.stateDir)
    await ctx.target.fs.writeFile(`${ctx.target.stateDir}/${KVM_PROBE_FILE}`, JSON.stringify(cache, null, 2) + '\n', {atomic: true, mode: 0o644})
  } catch (error) {
    ctx.operator.progress({type: 'warn', title: `Could not cache the KVM probe result in ${ctx.target.stateDir}`, detail: error instanceof Error ? error.message : String(error)})
  }
  return {kvm: decision.kvm, reason: decision.reason, cached: false, kernelRelease: release, qemuVersion: qemu, timings: timingsOf(measurement), measurement, measuredAt}
}

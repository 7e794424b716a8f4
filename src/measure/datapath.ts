/**
 * Datapath verification: evidence that the lab's traffic really took the architecture it claims.
 * Pure parsers and verdicts over text/paths read elsewhere, plus thin collectors that read them
 * through HostFs / the CommandRunner.
 *
 *  - virtio-qemu: QEMU holds /dev/net/tun and NOT /dev/vhost-net (the userspace backend moves frames).
 *  - vhost-net: QEMU holds /dev/vhost-net (readlink /proc/<pid>/fd/*) AND a vhost-<pid> worker
 *    exists (a thread of QEMU on kernels >= 6.4, a kernel thread before).
 *  - vhost-user (OVS-DPDK): `ovs-appctl dpif-netdev/pmd-rxq-show` lists the lab's ports on a PMD,
 *    and `dpif-netdev/pmd-stats-show` "packets received" and "processing cycles" moved between
 *    before and after the test.
 *  - SR-IOV: the VF (sysfs physfn link back to the PF) is bound to the expected driver (vfio-pci).
 *  - vDPA: QEMU holds /dev/vhost-vdpa-N.
 */
import type {CommandRunner} from '../host/runner.js'
import {type HostFs, readlinkMany, readMany} from '../host/fs.js'

export type DatapathKind = 'virtio-qemu' | 'vhost-net' | 'vhost-user' | 'sriov' | 'vdpa' | 'unknown'

export interface DatapathVerification {
  kind: DatapathKind
  verified: boolean
  evidence: string[]
  /** Why it is not verified (absent when verified). */
  reason?: string
}

export interface FdLink {
  fd: number
  target: string
}

export interface TaskName {
  /** Thread id (or pid, for kernel threads). */
  id: number
  comm: string
}

function verdict(kind: DatapathKind, evidence: string[], failure: string | undefined): DatapathVerification {
  return failure === undefined ? {kind, verified: true, evidence} : {kind, verified: false, evidence, reason: failure}
}

export function unverified(kind: DatapathKind, reason: string, evidence: string[] = []): DatapathVerification {
  return {kind, verified: false, evidence, reason}
}

function holders(fds: readonly FdLink[], test: (target: string) => boolean): FdLink[] {
  return fds.filter((f) => test(f.target))
}

/** vhost-net: /dev/vhost-net held by QEMU and a vhost-<qemu pid> worker (thread or kernel thread). */
export function verifyVhostNet(input: {qemuPid: number; fds: readonly FdLink[]; threads: readonly TaskName[]; kernelThreads?: readonly TaskName[]}): DatapathVerification {
  const evidence: string[] = []
  const vhost = holders(input.fds, (t) => t === '/dev/vhost-net')
  const tun = holders(input.fds, (t) => t === '/dev/net/tun')
  if (tun.length > 0) evidence.push(`QEMU pid ${input.qemuPid} holds /dev/net/tun (fd ${tun.map((f) => f.fd).join(', ')})`)
  if (vhost.length > 0) evidence.push(`QEMU pid ${input.qemuPid} holds /dev/vhost-net (fd ${vhost.map((f) => f.fd).join(', ')})`)
  const workerName = `vhost-${input.qemuPid}`
  const workers = [
    ...input.threads.filter((t) => t.comm === workerName).map((t) => `vhost worker thread ${t.comm} (tid ${t.id})`),
    ...(input.kernelThreads ?? []).filter((t) => t.comm === workerName).map((t) => `vhost kernel thread ${t.comm} (pid ${t.id})`),
  ]
  evidence.push(...workers)
  if (vhost.length === 0) return verdict('vhost-net', evidence, `QEMU pid ${input.qemuPid} does not hold /dev/vhost-net: the userspace virtio backend is moving the frames`)
  if (workers.length === 0) return verdict('vhost-net', evidence, `no ${workerName} worker found: vhost-net is open but no vhost worker runs`)
  return verdict('vhost-net', evidence, undefined)
}

/** virtio-qemu: tap through QEMU's own userspace backend (no vhost-net fd). */
export function verifyVirtioQemu(input: {qemuPid: number; fds: readonly FdLink[]}): DatapathVerification {
  const evidence: string[] = []
  const tun = holders(input.fds, (t) => t === '/dev/net/tun')
  const vhost = holders(input.fds, (t) => t === '/dev/vhost-net')
  if (tun.length > 0) evidence.push(`QEMU pid ${input.qemuPid} holds /dev/net/tun (fd ${tun.map((f) => f.fd).join(', ')})`)
  if (vhost.length > 0) evidence.push(`QEMU pid ${input.qemuPid} holds /dev/vhost-net (fd ${vhost.map((f) => f.fd).join(', ')})`)
  else evidence.push(`QEMU pid ${input.qemuPid} holds no /dev/vhost-net`)
  if (tun.length === 0) return verdict('virtio-qemu', evidence, `QEMU pid ${input.qemuPid} holds no /dev/net/tun: the NIC is not a tap`)
  if (vhost.length > 0) return verdict('virtio-qemu', evidence, 'QEMU holds /dev/vhost-net: the kernel backend, not QEMU, moves the frames')
  return verdict('virtio-qemu', evidence, undefined)
}

/** vDPA: QEMU holds the lab's /dev/vhost-vdpa-N. */
export function verifyVdpa(input: {qemuPid: number; fds: readonly FdLink[]; device: string}): DatapathVerification {
  const held = holders(input.fds, (t) => t === input.device)
  const any = holders(input.fds, (t) => /^\/dev\/vhost-vdpa-\d+$/.test(t))
  const evidence = any.map((f) => `QEMU pid ${input.qemuPid} holds ${f.target} (fd ${f.fd})`)
  if (held.length === 0) return verdict('vdpa', evidence, `QEMU pid ${input.qemuPid} does not hold ${input.device}`)
  return verdict('vdpa', evidence, undefined)
}

/** SR-IOV: the VF exists under its PF and is bound to the expected driver ("host": any host VF driver, not vfio-pci). */
export function verifySriov(input: {vf: string; physfn: string | undefined; driver: string | undefined; expectedDriver?: string; pf?: string}): DatapathVerification {
  const expected = input.expectedDriver ?? 'vfio-pci'
  const evidence: string[] = []
  if (input.physfn !== undefined) evidence.push(`${input.vf} is a VF of ${input.physfn}`)
  if (input.driver !== undefined) evidence.push(`${input.vf} is bound to ${input.driver}`)
  if (input.physfn === undefined) return verdict('sriov', evidence, `${input.vf} has no physfn link: it is not a virtual function`)
  if (input.pf !== undefined && input.physfn !== input.pf) return verdict('sriov', evidence, `${input.vf} belongs to ${input.physfn}, not to ${input.pf}`)
  const driverOk = expected === 'host' ? input.driver !== undefined && input.driver !== 'vfio-pci' : input.driver === expected
  if (!driverOk) return verdict('sriov', evidence, `${input.vf} is bound to ${input.driver ?? 'no driver'}, expected ${expected === 'host' ? 'its host VF driver' : expected}`)
  return verdict('sriov', evidence, undefined)
}

// ---- OVS-DPDK -------------------------------------------------------------------------------------

export interface PmdRxq {
  port: string
  queueId: number
  enabled: boolean
  usage: string | undefined
}

export interface PmdThreadRxqs {
  numaId: number
  coreId: number
  isolated: boolean | undefined
  rxqs: PmdRxq[]
}

/** `ovs-appctl dpif-netdev/pmd-rxq-show`. */
export function parsePmdRxqShow(text: string): PmdThreadRxqs[] {
  const threads: PmdThreadRxqs[] = []
  let current: PmdThreadRxqs | undefined
  for (const line of text.split('\n')) {
    const head = /^pmd thread numa_id (\d+) core_id (\d+):/.exec(line.trim())
    if (head) {
      current = {numaId: Number(head[1]), coreId: Number(head[2]), isolated: undefined, rxqs: []}
      threads.push(current)
      continue
    }
    if (current === undefined) continue
    const isolated = /^isolated\s*:\s*(true|false)/.exec(line.trim())
    if (isolated) current.isolated = isolated[1] === 'true'
    const rxq = /^port:\s*(\S+)\s+queue-id:\s*(\d+)(?:\s*\((enabled|disabled)\))?(?:\s+pmd usage:\s*(.+))?/.exec(line.trim())
    if (rxq) {
      current.rxqs.push({port: rxq[1] as string, queueId: Number(rxq[2]), enabled: rxq[3] !== 'disabled', usage: rxq[4]?.trim()})
    }
  }
  return threads
}

export interface PmdStats {
  /** "pmd" threads have numa/core ids; "main" is the main thread. */
  thread: 'pmd' | 'main'
  numaId: number | undefined
  coreId: number | undefined
  packetsReceived: number
  processingCycles: number | undefined
  idleCycles: number | undefined
}

/** `ovs-appctl dpif-netdev/pmd-stats-show`. */
export function parsePmdStatsShow(text: string): PmdStats[] {
  const stats: PmdStats[] = []
  let current: PmdStats | undefined
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    const pmd = /^pmd thread numa_id (\d+) core_id (\d+):/.exec(line)
    if (pmd || /^main thread:/.test(line)) {
      current = {
        thread: pmd ? 'pmd' : 'main',
        numaId: pmd ? Number(pmd[1]) : undefined,
        coreId: pmd ? Number(pmd[2]) : undefined,
        packetsReceived: 0,
        processingCycles: undefined,
        idleCycles: undefined,
      }
      stats.push(current)
      continue
    }
    if (current === undefined) continue
    const value = /^([a-z. ]+):\s*(\d+)/.exec(line)
    if (!value) continue
    const key = (value[1] as string).trim()
    const n = Number(value[2])
    if (key === 'packets received') current.packetsReceived = n
    else if (key === 'processing cycles') current.processingCycles = n
    else if (key === 'idle cycles') current.idleCycles = n
  }
  return stats
}

/**
 * OVS-DPDK: every lab port has an rx queue on a PMD thread, and the PMD threads' "packets
 * received" and "processing cycles" grew between the snapshots taken before and after the test.
 */
export function verifyOvsDpdk(input: {ports: readonly string[]; rxqShow: string; statsBefore: string; statsAfter: string}): DatapathVerification {
  const evidence: string[] = []
  const threads = parsePmdRxqShow(input.rxqShow)
  const missing: string[] = []
  for (const port of input.ports) {
    const on = threads.filter((t) => t.rxqs.some((q) => q.port === port && q.enabled))
    if (on.length === 0) missing.push(port)
    else evidence.push(`port ${port} is polled by PMD core ${on.map((t) => t.coreId).join(', ')}`)
  }
  const pmdSum = (text: string) => {
    const pmds = parsePmdStatsShow(text).filter((s) => s.thread === 'pmd')
    return {
      count: pmds.length,
      packets: pmds.reduce((sum, s) => sum + s.packetsReceived, 0),
      cycles: pmds.reduce((sum, s) => sum + (s.processingCycles ?? 0), 0),
    }
  }
  const before = pmdSum(input.statsBefore)
  const after = pmdSum(input.statsAfter)
  const packets = after.packets - before.packets
  const cycles = after.cycles - before.cycles
  if (after.count > 0) evidence.push(`PMD packets received ${before.packets} -> ${after.packets} (+${packets}), processing cycles ${before.cycles} -> ${after.cycles} (+${cycles})`)
  if (threads.length === 0 || after.count === 0) return verdict('vhost-user', evidence, 'no PMD thread: ovs-vswitchd is not running a DPDK datapath')
  if (missing.length > 0) return verdict('vhost-user', evidence, `port${missing.length === 1 ? '' : 's'} ${missing.join(', ')} not assigned to any PMD thread`)
  if (packets <= 0) return verdict('vhost-user', evidence, 'the PMD threads received no packets during the test')
  if (cycles <= 0) return verdict('vhost-user', evidence, 'the PMD threads spent no processing cycles during the test')
  return verdict('vhost-user', evidence, undefined)
}

// ---- collectors (I/O through the seams) -----------------------------------------------------------

/** readlink every /proc/<pid>/fd/* (the caller needs the right to read them: root). */
export async function readFdLinks(fs: HostFs, pid: number): Promise<FdLink[]> {
  const out: FdLink[] = []
  const names = (await fs.readdir(`/proc/${pid}/fd`)).filter((name) => /^\d+$/.test(name))
  // One batched call (one round trip over SSH), not one readlink per fd.
  const links = await readlinkMany(fs, names.map((name) => `/proc/${pid}/fd/${name}`))
  for (const name of names) {
    const target = links.get(`/proc/${pid}/fd/${name}`)
    if (target !== undefined) out.push({fd: Number(name), target})
  }
  return out.sort((a, b) => a.fd - b.fd)
}

/** The comm of every thread of a process (/proc/<pid>/task/<tid>/comm). */
export async function readThreadNames(fs: HostFs, pid: number): Promise<TaskName[]> {
  const out: TaskName[] = []
  const tids = (await fs.readdir(`/proc/${pid}/task`)).filter((tid) => /^\d+$/.test(tid))
  const comms = await readMany(fs, tids.map((tid) => `/proc/${pid}/task/${tid}/comm`))
  for (const tid of tids) {
    const comm = comms.get(`/proc/${pid}/task/${tid}/comm`)
    if (comm !== undefined) out.push({id: Number(tid), comm: comm.trim()})
  }
  return out
}

/** Processes whose comm starts with a prefix (kernel vhost-<pid> threads on kernels before 6.4). */
export async function findProcessesByComm(fs: HostFs, prefix: string): Promise<TaskName[]> {
  const out: TaskName[] = []
  const pids = (await fs.readdir('/proc')).filter((pid) => /^\d+$/.test(pid))
  const comms = await readMany(fs, pids.map((pid) => `/proc/${pid}/comm`))
  for (const pid of pids) {
    const comm = comms.get(`/proc/${pid}/comm`)
    if (comm !== undefined && comm.startsWith(prefix)) out.push({id: Number(pid), comm: comm.trim()})
  }
  return out
}

/** A QEMU pid from its pidfile (virtlab's QEMU driver: <runDir>/<vm>.pid; libvirt: /run/libvirt/qemu/<domain>.pid). */
export async function readPidfile(fs: HostFs, path: string): Promise<number | undefined> {
  const text = await fs.tryReadFile(path)
  const pid = text === undefined ? Number.NaN : Number.parseInt(text.trim(), 10)
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

export async function collectVhostNet(fs: HostFs, qemuPid: number): Promise<DatapathVerification> {
  const fds = await readFdLinks(fs, qemuPid)
  const threads = await readThreadNames(fs, qemuPid)
  const kernelThreads = threads.some((t) => t.comm === `vhost-${qemuPid}`) ? [] : await findProcessesByComm(fs, `vhost-${qemuPid}`)
  return verifyVhostNet({qemuPid, fds, threads, kernelThreads})
}

export async function collectVirtioQemu(fs: HostFs, qemuPid: number): Promise<DatapathVerification> {
  return verifyVirtioQemu({qemuPid, fds: await readFdLinks(fs, qemuPid)})
}

export async function collectVdpa(fs: HostFs, qemuPid: number, device: string): Promise<DatapathVerification> {
  return verifyVdpa({qemuPid, fds: await readFdLinks(fs, qemuPid), device})
}

export function basenameOf(path: string | undefined): string | undefined {
  return path === undefined ? undefined : path.split('/').filter(Boolean).pop()
}

export async function collectSriov(fs: HostFs, vf: string, options: {pf?: string; expectedDriver?: string} = {}): Promise<DatapathVerification> {
  const base = `/sys/bus/pci/devices/${vf}`
  const physfn = basenameOf(await fs.readlink(`${base}/physfn`))
  const driver = basenameOf(await fs.readlink(`${base}/driver`))
  return verifySriov({vf, physfn, driver, ...(options.pf === undefined ? {} : {pf: options.pf}), ...(options.expectedDriver === undefined ? {} : {expectedDriver: options.expectedDriver})})
}

/** The ovs-appctl argv for a vswitchd control socket (a private instance's ctl path) or the system one. */
export function ovsAppctlArgv(command: string, target?: string): string[] {
  return target === undefined ? ['ovs-appctl', command] : ['ovs-appctl', '-t', target, command]
}

export async function readPmdStats(runner: CommandRunner, target?: string): Promise<string> {
  return (await runner.run(ovsAppctlArgv('dpif-netdev/pmd-stats-show', target), {timeoutMs: 10_000})).stdout
}

export async function readPmdRxqs(runner: CommandRunner, target?: string): Promise<string> {
  return (await runner.run(ovsAppctlArgv('dpif-netdev/pmd-rxq-show', target), {timeoutMs: 10_000})).stdout
}

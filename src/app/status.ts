/**
 * `virtlab status [lab]`: the labs in the state directory with their journaled steps, and what is
 * live on the host: VMs (running or not, pid, accel), switches and their ports, the VF / vDPA
 * devices the journal recorded, and tagged leftovers of labs that have no (readable) journal.
 */
import {describeLeftovers, discoverLabs, findLeftovers, listDomains, listQemuProcesses, type TaggedProcess} from '../apply/leftovers.js'
import {labStateDir, readJournal} from '../apply/journal.js'
import {lockHolderHost, lockHolderPid} from '../apply/lock.js'
import {domainName} from '../compile/ids.js'
import type {Phase} from '../plan/step.js'
import type {Context} from './context.js'
import {labNameOf} from './down.js'

export interface VmStatus {
  name: string
  /** libvirt domain / QEMU -name. */
  domain: string
  running: boolean
  pid: number | undefined
  accel: string | undefined
  /** libvirt: a domain is defined; qemu: only a process (or nothing) was found. */
  managedBy: 'libvirt' | 'qemu' | 'none'
}

export interface SwitchStatus {
  name: string
  type: 'linux-bridge' | 'ovs'
  present: boolean
  ports: string[]
}

export interface LabStatus {
  lab: string
  journal: 'ok' | 'corrupt' | 'absent'
  /** Set when another virtlab process holds the lab's lock (its pid on the target). */
  lockedBy: number | undefined
  /** Who holds the lock (virtlab pid N on HOST), when the lock records it. */
  lockHolder?: string
  file: string | undefined
  driver: 'libvirt' | 'qemu' | undefined
  runDir: string | undefined
  netns: string | undefined
  params: Record<string, string | number | boolean> | undefined
  degraded: string[]
  steps: {id: string; title: string; phase: Phase}[]
  vms: VmStatus[]
  switches: SwitchStatus[]
  /** SR-IOV VFs and vDPA devices the journal recorded. */
  devices: {stepId: string; title: string}[]
  /** Tagged things found on the host for a lab without a readable journal. */
  leftovers: string[]
}

export interface StatusResult {
  labs: LabStatus[]
}

export function accelOf(argv: readonly string[]): string | undefined {
  const at = argv.indexOf('-accel')
  if (at >= 0) return argv[at + 1]?.split(',')[0]
  if (argv.includes('-enable-kvm')) return 'kvm'
  const machine = argv.indexOf('-machine')
  const m = machine >= 0 ? /(?:^|,)accel=([a-z]+)/.exec(argv[machine + 1] ?? '') : null
  return m?.[1] ?? undefined
}

async function run(ctx: Context, argv: string[]): Promise<string | undefined> {
  try {
    const r = await ctx.target.runner.run(argv, {allowFailure: true, timeoutMs: 15_000})
    return r.exitCode === 0 ? r.stdout : undefined
  } catch {
    return undefined
  }
}

function names(text: string | undefined): string[] {
  return (text ?? '').split('\n').map((l) => l.trim()).filter(Boolean)
}

async function switchStatus(ctx: Context, id: string, runDir: string | undefined, netns: string | undefined): Promise<SwitchStatus | undefined> {
  const ovs = /^ovs:bridge:([^:]+)$/.exec(id)
  if (ovs?.[1]) {
    const name = ovs[1]
    const privateSock = runDir === undefined ? undefined : `${runDir}/ovs/db.sock`
    // The lab's private instance when it has one, else (or when the bridge is not there) the system's.
    const instances = privateSock !== undefined && (await ctx.target.fs.exists(privateSock)) ? [[`--db=unix:${privateSock}`], []] : [[]]
    for (const db of instances) {
      const ports = await run(ctx, ['ovs-vsctl', ...db, '--timeout=5', 'list-ports', name])
      if (ports !== undefined) return {name, type: 'ovs', present: true, ports: names(ports)}
    }
    return {name, type: 'ovs', present: false, ports: []}
  }
  const br = /^bridge:([^:]+)$/.exec(id)
  if (br?.[1]) {
    const name = br[1]
    // The bridge lives in the lab's namespace or in the host's: look in both.
    for (const ns of netns === undefined ? [[]] : [['-n', netns], []]) {
      if ((await run(ctx, ['ip', ...ns, '-o', 'link', 'show', 'dev', name])) === undefined) continue
      const ports = await run(ctx, ['ip', ...ns, '-o', 'link', 'show', 'master', name])
      return {
        name,
        type: 'linux-bridge',
        present: true,
        ports: names(ports).map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter((n): n is string => n !== undefined),
      }
    }
    return {name, type: 'linux-bridge', present: false, ports: []}
  }
  return undefined
}

async function labStatus(ctx: Context, lab: string, domains: {all: string[] | undefined; running: string[]}, processes: TaggedProcess[]): Promise<LabStatus> {
  const read = await readJournal(ctx.target.fs, ctx.target.stateDir, lab)
  const journal = read.state === 'ok' ? read.journal : undefined
  const lockText = await ctx.target.fs.tryReadFile(`${labStateDir(ctx.target.stateDir, lab)}/lock`)
  const holder = lockHolderPid(lockText)
  const lockPid = holder !== undefined && (await ctx.target.fs.exists(`/proc/${holder}`)) ? holder : undefined
  const lockHost = lockPid === undefined ? undefined : lockHolderHost(lockText)
  const status: LabStatus = {
    lab,
    journal: read.state,
    lockedBy: lockPid,
    ...(lockHost === undefined ? {} : {lockHolder: lockHost}),
    file: journal?.file,
    driver: journal?.driver,
    runDir: journal?.runDir,
    netns: journal?.netns,
    params: journal?.params,
    degraded: journal?.degraded ?? [],
    steps: (journal?.entries ?? []).map((e) => ({id: e.stepId, title: e.title, phase: e.phase})),
    vms: [],
    switches: [],
    devices: (journal?.entries ?? []).filter((e) => e.phase === 'devices').map((e) => ({stepId: e.stepId, title: e.title})),
    leftovers: [],
  }

  // VMs: named by the journal's vm:<name>:... steps, plus anything live tagged vl-<lab>-.
  const prefix = domainName(lab, '')
  const vmNames = new Set<string>()
  for (const e of journal?.entries ?? []) {
    const m = /^vm:([^:]+):/.exec(e.stepId)
    if (m?.[1]) vmNames.add(m[1])
  }
  for (const d of domains.all ?? []) if (d.startsWith(prefix)) vmNames.add(d.slice(prefix.length))
  for (const p of processes) if (p.name.startsWith(prefix)) vmNames.add(p.name.slice(prefix.length))
  for (const vm of [...vmNames].sort()) {
    const domain = domainName(lab, vm)
    const proc = processes.find((p) => p.name === domain)
    const defined = domains.all?.includes(domain) ?? false
    status.vms.push({
      name: vm,
      domain,
      running: defined ? domains.running.includes(domain) : proc !== undefined,
      pid: proc?.pid,
      accel: proc === undefined ? undefined : accelOf(proc.argv),
      managedBy: defined ? 'libvirt' : proc !== undefined ? 'qemu' : 'none',
    })
  }

  for (const e of journal?.entries ?? []) {
    const sw = await switchStatus(ctx, e.stepId, journal?.runDir, journal?.netns)
    if (sw) status.switches.push(sw)
  }

  if (read.state !== 'ok') {
    status.leftovers = describeLeftovers(await findLeftovers(ctx, lab))
  }
  return status
}

export async function statusLabs(ctx: Context, options: {lab?: string | undefined} = {}): Promise<StatusResult> {
  const labs = options.lab === undefined ? await discoverLabs(ctx) : [labNameOf(options.lab)]
  const all = await listDomains(ctx, true)
  const running = all === undefined ? [] : ((await listDomains(ctx, false)) ?? [])
  const processes = await listQemuProcesses(ctx)
  const result: StatusResult = {labs: []}
  for (const lab of labs) result.labs.push(await labStatus(ctx, lab, {all, running}, processes))
  return result
}

export interface HostStatus {
  host: string
  transport: 'local' | 'ssh' | undefined
  url: string | undefined
  /** The labs on that host; undefined when it could not be reached. */
  labs: LabStatus[] | undefined
  error?: {code: string; message: string}
}

export interface AllHostsStatusResult {
  hosts: HostStatus[]
}

/**
 * `status --all-hosts`: this machine and every named host, one after another. A host that
 * cannot be reached is reported with its error; the others are still listed.
 */
export async function statusAllHosts(hosts: readonly string[], open: (host: string) => Promise<Context>): Promise<AllHostsStatusResult> {
  const result: AllHostsStatusResult = {hosts: []}
  for (const host of hosts) {
    let ctx: Context | undefined
    try {
      ctx = await open(host)
      const status = await statusLabs(ctx)
      result.hosts.push({host, transport: ctx.target.transport, url: ctx.target.identity.url, labs: status.labs})
    } catch (error) {
      const e = error as {code?: unknown; message?: unknown}
      result.hosts.push({host, transport: undefined, url: undefined, labs: undefined, error: {code: typeof e.code === 'string' ? e.code : 'INTERNAL', message: String(e.message ?? error)}})
    } finally {
      await ctx?.target.close().catch(() => undefined)
    }
  }
  return result
}

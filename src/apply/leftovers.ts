/**
 * Find-by-tag: everything virtlab creates carries the lab in its name or metadata, so `down --force`
 * and `down --all` can remove a lab's leftovers even when its journal is lost or corrupt:
 *   - libvirt domains vl-<lab>-*            (virsh list --all --name; destroy + undefine)
 *   - QEMU processes with -name vl-<lab>-*  (/proc/<pid>/cmdline; kill)
 *   - system OVS bridges/interfaces with external_ids:virtlab-lab=<lab> (del-br / del-port)
 *   - a private OVS instance under <runDir>/ovs (pidfiles; pkill -F)
 *   - links named vl<labTag(lab)>*, or with ifalias virtlab-lab=<lab> (bridges named by the lab)
 *                                           (ip -o link show; ip link del)
 *   - the namespace vl-<lab>                (ip netns del)
 *   - the run directory /run/virtlab/<lab>
 */
import type {Context} from '../host/target.js'
import {isReservedLabName} from '../lab/rules.js'
import {labTag, linkAliasTag, netnsName} from '../compile/ids.js'
import {DPDK_RUNTIME_BASE, OVS_NETDEV_LINK} from '../switches/ovs.js'
import {VirtlabError, isVirtlabError} from '../errors.js'
import type {RunResult} from '../host/runner.js'

const VIRSH = ['virsh', '-c', 'qemu:///system']
const OVS_VSCTL = ['ovs-vsctl', '--timeout=5']

export interface TaggedProcess {
  pid: number
  /** The -name value (vl-<lab>-<vm>). */
  name: string
  argv: string[]
}

export interface Leftovers {
  lab: string
  domains: {name: string; running: boolean}[]
  processes: TaggedProcess[]
  ovsBridges: string[]
  ovsPorts: string[]
  /** Pidfiles of a private OVS instance (<runDir>/ovs/*.pid). */
  ovsPidfiles: string[]
  links: string[]
  netns: string | undefined
  runDir: string | undefined
  /** DPDK's runtime directory of the lab's private OVS-DPDK (/var/run/dpdk/vl-<lab>). */
  dpdkRuntime?: string | undefined
  /**
   * The `ovs-netdev` tap the netdev datapath of the lab's private ovs-vswitchd left in the host
   * namespace: removed after the private OVS is stopped, when no other ovs-vswitchd runs.
   */
  ovsNetdevLink?: boolean
  /** The run directory base (/run/virtlab, or VIRTLAB_RUN_DIR): virtlab's own, removed when it is left empty. */
  runBase?: string | undefined
  /** What could not be looked at (a tool missing, a daemon not running). */
  notes: string[]
}

export function isEmpty(l: Leftovers): boolean {
  return l.domains.length === 0 && l.processes.length === 0 && l.ovsBridges.length === 0 && l.ovsPorts.length === 0 &&
    l.ovsPidfiles.length === 0 && l.links.length === 0 && l.netns === undefined && l.runDir === undefined && l.dpdkRuntime === undefined
}

/** Describe leftovers as short lines ("domain vl-x-vm1 (running)"). */
export function describeLeftovers(l: Leftovers): string[] {
  return [
    ...l.domains.map((d) => `libvirt domain ${d.name}${d.running ? ' (running)' : ''}`),
    ...l.processes.map((p) => `QEMU process ${p.pid} (${p.name})`),
    ...l.ovsPorts.map((p) => `OVS port ${p}`),
    ...l.ovsBridges.map((b) => `OVS bridge ${b}`),
    ...l.ovsPidfiles.map((p) => `private OVS daemon (${p})`),
    ...l.links.map((n) => `link ${n}`),
    ...(l.netns === undefined ? [] : [`netns ${l.netns}`]),
    ...(l.runDir === undefined ? [] : [`run directory ${l.runDir}`]),
    ...(l.dpdkRuntime === undefined ? [] : [`DPDK runtime directory ${l.dpdkRuntime}`]),
  ]
}

/** Run a discovery command; undefined when the tool is missing or fails. */
async function tryRun(ctx: Context, argv: string[]): Promise<RunResult | undefined> {
  try {
    ctx.operator.progress({type: 'command', title: argv.join(' ')})
    const result = await ctx.target.runner.run(argv, {allowFailure: true, timeoutMs: 15_000})
    return result.exitCode === 0 ? result : undefined
  } catch {
    return undefined
  }
}

function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean)
}

/** Names of libvirt domains (undefined when libvirt cannot be reached). */
export async function listDomains(ctx: Context, all = true): Promise<string[] | undefined> {
  const result = await tryRun(ctx, [...VIRSH, 'list', ...(all ? ['--all'] : []), '--name'])
  return result === undefined ? undefined : lines(result.stdout)
}

/** QEMU processes (any process whose cmdline has -name) on the host, read from /proc. */
export async function listQemuProcesses(ctx: Context): Promise<TaggedProcess[]> {
  const out: TaggedProcess[] = []
  for (const entry of await ctx.target.fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cmdline = await ctx.target.fs.tryReadFile(`/proc/${entry}/cmdline`).catch(() => undefined)
    if (!cmdline) continue
    const argv = cmdline.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1)
    const at = argv.indexOf('-name')
    const value = at >= 0 ? argv[at + 1] : undefined
    if (value === undefined) continue
    const name = (value.startsWith('guest=') ? value.slice('guest='.length) : value).split(',')[0] ?? ''
    out.push({pid: Number(entry), name, argv})
  }
  return out
}

async function ovsFind(ctx: Context, table: string, lab: string): Promise<string[] | undefined> {
  const result = await tryRun(ctx, [...OVS_VSCTL, '--columns=name', '--format=csv', '--no-headings', 'find', table, `external_ids:virtlab-lab=${lab}`])
  return result === undefined ? undefined : lines(result.stdout).map((l) => l.replace(/^"|"$/g, ''))
}

/** Links in the host namespace (ip -o link show): name and ifalias. */
export async function listLinkInfo(ctx: Context, netns?: string): Promise<{name: string; alias: string | undefined}[] | undefined> {
  const result = await tryRun(ctx, ['ip', ...(netns ? ['-n', netns] : []), '-o', 'link', 'show'])
  if (result === undefined) return undefined
  return lines(result.stdout).flatMap((l) => {
    const name = /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]
    return name === undefined ? [] : [{name, alias: /\\\s+alias (.*)$/.exec(l)?.[1]?.trim()}]
  })
}

/** Link names in the host namespace. */
export async function listLinks(ctx: Context, netns?: string): Promise<string[] | undefined> {
  return (await listLinkInfo(ctx, netns))?.map((l) => l.name)
}

/** The ifalias that marks a link virtlab created under a name the lab chose (a Linux bridge). */
export {linkAliasTag}

export async function listNetns(ctx: Context): Promise<string[] | undefined> {
  const result = await tryRun(ctx, ['ip', 'netns', 'list'])
  return result === undefined ? undefined : lines(result.stdout).map((l) => l.split(/\s+/)[0] ?? '')
}

function domainPrefix(lab: string): string {
  return `${netnsName(lab)}-`
}

export async function findLeftovers(ctx: Context, lab: string, options: {runDir?: string | undefined} = {}): Promise<Leftovers> {
  const notes: string[] = []
  const prefix = domainPrefix(lab)

  const all = await listDomains(ctx, true)
  const running = all === undefined ? [] : ((await listDomains(ctx, false)) ?? [])
  if (all === undefined) notes.push('libvirt not reachable: domains not checked')
  const domains = (all ?? []).filter((n) => n.startsWith(prefix)).map((name) => ({name, running: running.includes(name)}))

  const processes = (await listQemuProcesses(ctx)).filter((p) => p.name.startsWith(prefix))

  const bridges = await ovsFind(ctx, 'Bridge', lab)
  const ports = await ovsFind(ctx, 'Interface', lab)
  if (bridges === undefined) notes.push('system OVS not reachable: OVS bridges not checked')
  const ovsBridges = bridges ?? []
  const ovsPorts = (ports ?? []).filter((p) => !ovsBridges.includes(p))

  const runDir = options.runDir ?? `${ctx.target.runBase.replace(/\/+$/, '')}/${lab}`
  const ovsDir = `${runDir}/ovs`
  const ovsPidfiles = (await ctx.target.fs.readdir(ovsDir)).filter((f) => f.endsWith('.pid')).map((f) => `${ovsDir}/${f}`)
    // ovs-vswitchd first: it is a client of ovsdb-server.
    .sort((a, b) => Number(a.includes('ovsdb-server')) - Number(b.includes('ovsdb-server')))

  const tagPrefix = `vl${labTag(lab)}`
  const linkInfo = await listLinkInfo(ctx)
  if (linkInfo === undefined) notes.push('ip link failed: links not checked')
  const links = (linkInfo ?? []).filter((l) => l.name.startsWith(tagPrefix) || l.alias === linkAliasTag(lab)).map((l) => l.name)

  const namespaces = await listNetns(ctx)
  const netns = namespaces?.includes(netnsName(lab)) ? netnsName(lab) : undefined

  const dpdkRuntime = `${DPDK_RUNTIME_BASE}/${netnsName(lab)}`
  const runBase = ctx.target.runBase.replace(/\/+$/, '')

  return {
    lab,
    domains,
    processes,
    ovsBridges,
    ovsPorts,
    ovsPidfiles,
    links,
    netns,
    runDir: (await ctx.target.fs.exists(runDir)) ? runDir : undefined,
    dpdkRuntime: (await ctx.target.fs.exists(dpdkRuntime)) ? dpdkRuntime : undefined,
    ovsNetdevLink: ovsPidfiles.length > 0 && (linkInfo ?? []).some((l) => l.name === OVS_NETDEV_LINK),
    runBase: runBase === '' ? undefined : runBase,
    notes,
  }
}

/** Is any ovs-vswitchd (plain or DPDK build) running on the host? */
async function vswitchdRunning(ctx: Context): Promise<boolean> {
  for (const entry of await ctx.target.fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const comm = (await ctx.target.fs.tryReadFile(`/proc/${entry}/comm`).catch(() => undefined))?.trim()
    if (comm !== undefined && comm.startsWith('ovs-vswitchd')) return true
  }
  return false
}

/** Labs that have a state directory, a run directory, a namespace or tagged OVS records. */
export async function discoverLabs(ctx: Context): Promise<string[]> {
  const labs = new Set<string>()
  const valid = (name: string) => /^[a-z0-9][a-z0-9-]*$/.test(name)
  for (const name of await ctx.target.fs.readdir(ctx.target.stateDir)) {
    const st = await ctx.target.fs.stat(`${ctx.target.stateDir}/${name}`)
    // virtlab's own entries (the image cache, the KVM probe's scratch directory...) are not labs.
    if (st?.isDirectory && valid(name) && !isReservedLabName(name)) labs.add(name)
  }
  for (const name of await ctx.target.fs.readdir(ctx.target.runBase)) if (valid(name)) labs.add(name)
  for (const ns of (await listNetns(ctx)) ?? []) if (ns.startsWith('vl-') && valid(ns.slice(3))) labs.add(ns.slice(3))
  for (const table of ['Bridge', 'Interface']) {
    const result = await tryRun(ctx, [...OVS_VSCTL, '--columns=external_ids', '--format=csv', '--no-headings', 'find', table])
    for (const m of (result?.stdout ?? '').matchAll(/virtlab-lab="?([a-z0-9][a-z0-9-]*)/g)) if (m[1]) labs.add(m[1])
  }
  return [...labs].sort()
}

export interface RemovalReport {
  removed: string[]
  failed: {what: string; error: string}[]
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function mustRun(ctx: Context, argv: string[], okExitCodes: number[] = []): Promise<void> {
  ctx.operator.progress({type: 'command', title: argv.join(' ')})
  const result = await ctx.target.runner.run(argv, {allowFailure: true, timeoutMs: 60_000})
  if (result.exitCode !== 0 && !okExitCodes.includes(result.exitCode)) {
    throw new VirtlabError('COMMAND_FAILED', `${argv.join(' ')} exited with ${result.exitCode}: ${(result.stderr || result.stdout).trim().split('\n').slice(-2).join(' ')}`, {
      command: {argv, exitCode: result.exitCode, stderrTail: result.stderr.trim()},
    })
  }
}

async function waitGone(ctx: Context, pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!(await ctx.target.fs.exists(`/proc/${pid}`))) return true
    await sleep(100)
  }
  return !(await ctx.target.fs.exists(`/proc/${pid}`))
}

/** Remove leftovers, most dependent first: VMs, OVS, links, the namespace, the run directory. */
export async function removeLeftovers(ctx: Context, l: Leftovers, options: {killTimeoutMs?: number} = {}): Promise<RemovalReport> {
  const report: RemovalReport = {removed: [], failed: []}
  const attempt = async (what: string, fn: () => Promise<void>) => {
    ctx.operator.progress({type: 'undo-start', title: `remove ${what}`})
    try {
      await fn()
      report.removed.push(what)
      ctx.operator.progress({type: 'undo-done', title: `remove ${what}`})
    } catch (error) {
      const message = isVirtlabError(error) || error instanceof Error ? error.message : String(error)
      report.failed.push({what, error: message})
      ctx.operator.progress({type: 'undo-fail', title: `remove ${what}`, detail: message})
    }
  }
  const killTimeout = options.killTimeoutMs ?? 10_000

  for (const d of l.domains) {
    await attempt(`libvirt domain ${d.name}`, async () => {
      if (d.running) await mustRun(ctx, [...VIRSH, 'destroy', d.name], [1])
      await mustRun(ctx, [...VIRSH, 'undefine', d.name])
    })
  }
  // Re-read: destroying a domain ends its QEMU.
  const alive = l.processes.length === 0 ? [] : (await listQemuProcesses(ctx)).filter((p) => l.processes.some((q) => q.pid === p.pid))
  for (const p of alive) {
    await attempt(`QEMU process ${p.pid} (${p.name})`, async () => {
      await mustRun(ctx, ['kill', '-TERM', String(p.pid)], [1])
      if (!(await waitGone(ctx, p.pid, killTimeout))) {
        await mustRun(ctx, ['kill', '-KILL', String(p.pid)], [1])
        if (!(await waitGone(ctx, p.pid, 2000))) throw new VirtlabError('KILL_FAILED', `process ${p.pid} did not exit`)
      }
    })
  }
  for (const port of l.ovsPorts) {
    await attempt(`OVS port ${port}`, () => mustRun(ctx, [...OVS_VSCTL, '--if-exists', 'del-port', port]))
  }
  for (const br of l.ovsBridges) {
    await attempt(`OVS bridge ${br}`, () => mustRun(ctx, [...OVS_VSCTL, '--if-exists', 'del-br', br]))
  }
  for (const pidfile of l.ovsPidfiles) {
    await attempt(`private OVS daemon (${pidfile})`, async () => {
      const text = (await ctx.target.fs.tryReadFile(pidfile))?.trim()
      if (text === undefined || !/^\d+$/.test(text) || !(await ctx.target.fs.exists(`/proc/${text}`))) return
      await mustRun(ctx, ['pkill', '-TERM', '-F', pidfile], [1])
      if (!(await waitGone(ctx, Number(text), killTimeout))) {
        await mustRun(ctx, ['pkill', '-KILL', '-F', pidfile], [1])
        if (!(await waitGone(ctx, Number(text), 2000))) throw new VirtlabError('KILL_FAILED', `process ${text} did not exit`)
      }
    })
  }
  for (const link of l.links) {
    await attempt(`link ${link}`, async () => {
      // A veth's peer may already have taken it away.
      const present = await listLinks(ctx)
      if (present !== undefined && !present.includes(link)) return
      await mustRun(ctx, ['ip', 'link', 'del', link])
    })
  }
  if (l.ovsNetdevLink && !(await vswitchdRunning(ctx))) {
    await attempt(`link ${OVS_NETDEV_LINK}`, async () => {
      const present = await listLinks(ctx)
      if (present !== undefined && !present.includes(OVS_NETDEV_LINK)) return
      await mustRun(ctx, ['ip', 'link', 'del', OVS_NETDEV_LINK])
    })
  }
  if (l.dpdkRuntime !== undefined) {
    const dir = l.dpdkRuntime
    await attempt(`DPDK runtime directory ${dir}`, () => ctx.target.fs.remove(dir, {recursive: true}))
  }
  if (l.netns !== undefined) {
    const ns = l.netns
    await attempt(`netns ${ns}`, () => mustRun(ctx, ['ip', 'netns', 'del', ns]))
  }
  if (l.runDir !== undefined) {
    const dir = l.runDir
    await attempt(`run directory ${dir}`, () => ctx.target.fs.remove(dir, {recursive: true}))
  }
  if (l.runBase !== undefined) {
    // virtlab's own run directory base: gone when no other lab has a run directory in it.
    const base = l.runBase
    if ((await ctx.target.fs.stat(base))?.isDirectory && (await ctx.target.fs.readdir(base)).length === 0) await ctx.target.fs.remove(base, {recursive: true})
  }
  return report
}

/**
 * `virtlab host add|list|rm|check`: the named target hosts of the hosts file
 * (src/host/hosts-file.ts), and what a host can do (`check`: connect, then doctor).
 */
import {runDoctor} from '../doctor/index.js'
import {detectOs} from '../doctor/packages.js'
import type {HostFs} from '../host/fs.js'
import {addHost, loadHostsFile, removeHost, type HostEntry} from '../host/hosts-file.js'
import {gatherFacts} from '../host/probe.js'
import type {Context} from '../host/target.js'
import {listLabs} from '../lab/find.js'
import {loadLab} from '../lab/load.js'

export interface HostListResult {
  file: string
  hosts: HostEntry[]
}

export async function listHosts(fs: HostFs, env: Record<string, string | undefined>): Promise<HostListResult> {
  const file = await loadHostsFile(fs, env)
  return {file: file.path, hosts: file.hosts}
}

export async function addNamedHost(fs: HostFs, env: Record<string, string | undefined>, entry: {name: string; url: string; sudo: boolean}): Promise<{file: string; host: HostEntry}> {
  const {path, host} = await addHost(fs, env, entry)
  return {file: path, host}
}

export async function removeNamedHost(fs: HostFs, env: Record<string, string | undefined>, name: string): Promise<{file: string; host: HostEntry}> {
  const {path, host} = await removeHost(fs, env, name)
  return {file: path, host}
}

export interface ArchitectureSupport {
  /** The shipped lab that stands for the architecture (virtio-qemu, vhost-net, vhost-user, sriov, vdpa...). */
  lab: string
  ok: boolean
  /** The checks that fail for it (id: detail). */
  failing: string[]
}

export interface HostCheckResult {
  host: string
  transport: 'local' | 'ssh'
  url: string | undefined
  user: string | undefined
  hostname: string | undefined
  kernel: string | undefined
  distribution: string
  /** How virtlab acts there: as root, through sudo -n, or as a user without root (labs cannot run). */
  access: 'root' | 'sudo' | 'unprivileged'
  qemu: string | undefined
  kvm: 'usable' | 'unusable' | 'absent'
  architectures: ArchitectureSupport[]
  roundTrips: number
}

/** Probe the target once, then run doctor's checks for every shipped lab against those facts. */
export async function checkHost(ctx: Context): Promise<HostCheckResult> {
  const facts = await gatherFacts(ctx)
  const os = await detectOs(ctx.target.fs)
  const architectures: ArchitectureSupport[] = []
  for (const summary of await listLabs([], ctx.operator.packageRoot, ctx.operator.fs)) {
    const model = await loadLab(summary.file, {fs: ctx.operator.fs, packageRoot: ctx.operator.packageRoot, sets: {}, dirs: []}).catch(() => undefined)
    if (model === undefined) continue
    const run = await runDoctor(model, ctx, {facts})
    const failing = run.checks.filter((c) => c.status === 'fail').map((c) => `${c.id}: ${c.detail}`)
    architectures.push({lab: model.name, ok: failing.length === 0, failing})
  }
  const identity = ctx.target.identity
  return {
    host: ctx.target.name,
    transport: ctx.target.transport,
    url: identity.url,
    user: identity.user,
    hostname: identity.hostname,
    kernel: facts.kernelRelease,
    distribution: os.prettyName ?? os.id,
    access: facts.root ? (identity.sudo ? 'sudo' : 'root') : 'unprivileged',
    qemu: facts.qemuVersion,
    kvm: facts.kvm,
    architectures,
    roundTrips: ctx.target.roundTrips(),
  }
}

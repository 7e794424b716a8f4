/**
 * `virtlab doctor --fix`: a plan first (packages to install, daemons to start, what needs a human),
 * then the actions: the host package manager (apt-get on Debian/Ubuntu, dnf on Fedora/RHEL) and the
 * daemon starters in src/host/daemons.ts.
 */
import type {Context} from '../host/target.js'
import {type StartedDaemon, ensureLibvirtd, ensureSystemOvs, OVS_CTL} from '../host/daemons.js'
import {isVirtlabError} from '../errors.js'
import {type OsInfo, installArgv} from './packages.js'
import type {CheckResult} from './types.js'

export interface FixPlan {
  os: {id: string; family: OsInfo['family']; packageManager: OsInfo['packageManager']}
  /** Packages to install (empty: none, or no supported package manager). */
  packages: string[]
  /** Daemon groups to start: 'libvirtd' (virtlogd first) and/or 'openvswitch'. */
  daemons: ('libvirtd' | 'openvswitch')[]
  /** The commands --fix will run, in order (for display). */
  commands: string[][]
  /** Checks that stay failing/warning after --fix: they need a human (kernel, hardware, firmware). */
  manual: {id: string; status: CheckResult['status']; fix: string}[]
  /** Packages were wanted but this host has no supported package manager. */
  unsupported: boolean
}

export interface FixStepResult {
  what: string
  argv?: string[]
  ok: boolean
  detail: string
  started?: StartedDaemon[]
}

export function planFix(checks: readonly CheckResult[], os: OsInfo): FixPlan {
  const packages: string[] = []
  const daemons: FixPlan['daemons'] = []
  const manual: FixPlan['manual'] = []
  for (const c of checks) {
    if (c.status === 'pass') continue
    const action = c.fixAction
    for (const p of action?.packages ?? []) if (!packages.includes(p)) packages.push(p)
    for (const d of action?.daemons ?? []) {
      const group = d === 'openvswitch' ? 'openvswitch' : 'libvirtd'
      if (!daemons.includes(group)) daemons.push(group)
    }
    const automatic = (action?.packages?.length ?? 0) > 0 || (action?.daemons?.length ?? 0) > 0
    if (!automatic && c.fix !== undefined) manual.push({id: c.id, status: c.status, fix: c.fix})
  }
  const commands: string[][] = []
  const install = installArgv(os, packages)
  if (install !== undefined && os.packageManager === 'apt-get') commands.push(['apt-get', 'update'])
  if (install !== undefined) commands.push(install)
  if (daemons.includes('libvirtd')) commands.push(['virtlogd', '-d'], ['libvirtd', '-d'])
  if (daemons.includes('openvswitch')) commands.push([OVS_CTL, 'start', '--system-id=random'])
  return {
    os: {id: os.id, family: os.family, packageManager: os.packageManager},
    packages,
    daemons,
    commands,
    manual,
    unsupported: packages.length > 0 && install === undefined,
  }
}

function errorText(error: unknown): string {
  if (isVirtlabError(error)) return `${error.message}${error.command?.stderrTail ? `: ${error.command.stderrTail.split('\n').slice(-3).join(' / ')}` : ''}`
  return error instanceof Error ? error.message : String(error)
}

/** Run the plan: install packages, then start daemons. Never throws; each step reports. */
export async function applyFix(ctx: Context, plan: FixPlan, os: OsInfo): Promise<FixStepResult[]> {
  const results: FixStepResult[] = []
  const install = installArgv(os, plan.packages)
  if (install !== undefined) {
    const env = os.packageManager === 'apt-get' ? {DEBIAN_FRONTEND: 'noninteractive'} : undefined
    if (os.packageManager === 'apt-get') {
      ctx.operator.progress({type: 'info', title: 'apt-get update'})
      try {
        await ctx.target.runner.run(['apt-get', 'update'], {timeoutMs: 10 * 60_000, env})
        results.push({what: 'package lists', argv: ['apt-get', 'update'], ok: true, detail: 'updated'})
      } catch (error) {
        // A stale list may still install; go on and let the install report.
        results.push({what: 'package lists', argv: ['apt-get', 'update'], ok: false, detail: errorText(error)})
      }
    }
    ctx.operator.progress({type: 'info', title: `Installing ${plan.packages.join(' ')}`})
    try {
      await ctx.target.runner.run(install, {timeoutMs: 30 * 60_000, env})
      results.push({what: 'packages', argv: install, ok: true, detail: `installed ${plan.packages.join(', ')}`})
    } catch (error) {
      results.push({what: 'packages', argv: install, ok: false, detail: errorText(error)})
    }
  } else if (plan.unsupported) {
    results.push({what: 'packages', ok: false, detail: `no supported package manager on ${os.id}: install ${plan.packages.join(', ')} by hand`})
  }
  if (plan.daemons.includes('libvirtd')) {
    try {
      const started = await ensureLibvirtd(ctx)
      results.push({what: 'libvirtd', ok: true, detail: started.length ? `started ${started.map((d) => `${d.name} (pid ${d.pid ?? '?'})`).join(', ')}` : 'already reachable', started})
    } catch (error) {
      results.push({what: 'libvirtd', ok: false, detail: errorText(error)})
    }
  }
  if (plan.daemons.includes('openvswitch')) {
    try {
      const started = await ensureSystemOvs(ctx)
      results.push({what: 'openvswitch', ok: true, detail: started.length ? 'started the system OVS (ovs-ctl start)' : 'already running', started})
    } catch (error) {
      results.push({what: 'openvswitch', ok: false, detail: errorText(error)})
    }
  }
  return results
}

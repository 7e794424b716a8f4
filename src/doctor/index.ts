/**
 * `virtlab doctor`: host checks with pass / warn / fail and a concrete fix. runChecks(model) checks
 * what that lab needs (`up` refuses to start on any 'fail'); runChecks(undefined) checks everything
 * and reports hardware the host lacks as warnings ("unavailable here: ...").
 */
import type {Context} from '../host/target.js'
import type {HostFacts} from '../host/facts.js'
import {gatherFacts, kernelRelease, modulesLoadable} from '../host/probe.js'
import type {LabModel} from '../lab/model.js'
import * as c from './checks.js'
import {allNeeds, labNeeds, type LabNeeds} from './needs.js'
import {detectOs, type OsInfo} from './packages.js'
import type {CheckResult, RunChecksOptions} from './types.js'

export type {CheckResult, CheckStatus, FixAction, RunChecksOptions} from './types.js'
export {applyFix, planFix, type FixPlan, type FixStepResult} from './fix.js'
export {detectOs, packagesFor, PACKAGE_MAP, type OsInfo} from './packages.js'

export interface DoctorRun {
  checks: CheckResult[]
  facts: HostFacts
  os: OsInfo
  needs: LabNeeds
}

/** Run the checks and also return what they were based on (facts, OS, the lab's needs). */
export async function runDoctor(model: LabModel | undefined, ctx: Context, options: RunChecksOptions = {}): Promise<DoctorRun> {
  const facts = options.facts ?? await gatherFacts(ctx, {kvm: options.kvmProbe ?? 'run', reprobeKvm: options.reprobeKvm ?? false, kvmProbe: options.kvmProbeOptions})
  const os = await detectOs(ctx.target.fs)
  const release = facts.kernelRelease ?? await kernelRelease(ctx.target.fs)
  const needs = model === undefined ? allNeeds() : labNeeds(model, options.driver)
  const whichCache = new Map<string, Promise<string | undefined>>()
  const env: c.DoctorEnv = {
    ctx,
    needs,
    facts,
    os,
    release,
    modulesLoadable: await modulesLoadable(ctx.target.fs, release),
    allowDegraded: options.allowDegraded ?? false,
    which(program) {
      let hit = whichCache.get(program)
      if (hit === undefined) {
        hit = ctx.target.runner.which(program)
        whichCache.set(program, hit)
      }
      return hit
    },
  }

  const checks: CheckResult[] = []
  checks.push(await c.checkRoot(env))
  checks.push(await c.checkKvm(env))
  const qemu = await c.checkQemu(env)
  checks.push(qemu)
  // Without a working QEMU its devices cannot be listed: the qemu check already says what to do.
  if (qemu.status === 'pass' && needs.qemuDevices.length + needs.qemuNetdevs.length > 0) checks.push(await c.checkQemuDevices(env))
  if (needs.tun) checks.push(await c.checkTun(env, needs.tun))
  if (needs.vhostNet) checks.push(await c.checkVhostNet(env, needs.vhostNet))
  if (needs.hugepages) {
    checks.push(await c.checkHugepages(env))
    checks.push(await c.checkHugetlbfs(env))
  }
  if (needs.sharedMemoryVms.length > 0) checks.push(await c.checkSharedMemory(env, needs.sharedMemoryVms))
  if (needs.iommu) checks.push(await c.checkIommu(env, needs.iommu))
  if (needs.vfio) checks.push(await c.checkVfio(env, needs.vfio))
  for (const pf of needs.sriov) checks.push(await c.checkSriovPf(env, pf))
  if (needs.sriovScan) checks.push(await c.checkSriovScan(env))
  if (needs.vdpa) {
    checks.push(await c.checkVdpaTool(env, needs.vdpa))
    checks.push(await c.checkVdpaBus(env, needs.vdpa))
    checks.push(...await c.checkVdpaMgmtdevs(env, needs.vdpaMgmtdevs, needs.vdpa))
  }
  for (const m of needs.modules) checks.push(await c.checkModule(env, m.name, m.need))
  for (const d of needs.devices) checks.push(await c.checkDevice(env, d.path, d.need))
  if (needs.ovsTools) checks.push(await c.checkOvsTools(env, needs.ovsTools))
  if (needs.ovsSystem) checks.push(await c.checkOvsSystem(env, needs.ovsSystem))
  if (needs.ovsKernelDatapath) checks.push(await c.checkOvsKernelDatapath(env, needs.ovsKernelDatapath))
  if (needs.ovsDpdk) {
    checks.push(await c.checkOvsDpdk(env, needs.ovsDpdk))
    checks.push(await c.checkMempoolRing(env, needs.ovsDpdk))
  }
  checks.push(await c.checkLibvirt(env, needs.libvirt))
  if (needs.xmlValidate) checks.push(await c.checkXmlValidate(env, needs.xmlValidate))
  if (needs.iperf3) checks.push(await c.checkIperf3(env, needs.iperf3))
  if (model !== undefined) checks.push(await c.checkLabLinks(env, model))
  if (needs.guestTools) checks.push(await c.checkGuestTools(env, needs.guestTools))
  return {checks, facts, os, needs}
}

/**
 * The checks for a lab (or, without one, for everything virtlab can do). `up` calls this and
 * refuses to start on any 'fail'.
 */
export async function runChecks(model: LabModel | undefined, ctx: Context, options: RunChecksOptions = {}): Promise<CheckResult[]> {
  return (await runDoctor(model, ctx, options)).checks
}

export function summarize(checks: readonly CheckResult[]): {pass: number; warn: number; fail: number} {
  return {
    pass: checks.filter((x) => x.status === 'pass').length,
    warn: checks.filter((x) => x.status === 'warn').length,
    fail: checks.filter((x) => x.status === 'fail').length,
  }
}

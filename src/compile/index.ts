/**
 * compileLab(model, options) -> Artifacts: everything a host needs to run the lab, as data. Pure
 * and deterministic: no clock, no randomness, no host access. Host facts are applied later by
 * buildPlan (src/plan/build.ts).
 *
 * Topology (both drivers): host-side endpoints live in the lab's namespace vl-<lab>; bridges and
 * taps live in the host namespace (libvirt's QEMU opens taps there); a switch's address sits on a
 * veth whose far end is in the namespace. See src/switches/linux-bridge.ts.
 */
import {backendFor} from '../backends/index.js'
import type {LabModel, VmModel} from '../lab/model.js'
import type {Argv, Step} from '../plan/step.js'
import {switchSteps} from '../switches/index.js'
import {ovsInstances} from '../switches/ovs.js'
import type {Artifacts, CompileOptions, DomainArtifact, QemuArtifact} from './artifacts.js'
import {type Accel, assertArgSafe, type CompileEnv, compileError, names, type NicSite, paths} from './context.js'
import {qemuMemlockPrefix} from '../devices/vdpa.js'
import {deviceSteps} from './devices.js'
import {assertModelSafe} from './safety.js'
import {domainXml, QEMU_BINARY} from './domain-xml.js'
import {hostSteps} from './host.js'
import {netnsName} from './ids.js'
import {qemuArgv} from './qemu-argv.js'
import {exec, execMatches, execOk, reEscape, runningByPidfile, step, stopByPidfile, undoExec} from './steps.js'
import {READY_MARKER} from '../guest/image.js'
import {cloudImageSteps} from './cloud.js'
import {type Backing, type VmSite} from './vm.js'

export type {Artifacts, CompileOptions} from './artifacts.js'

export const VIRSH: Argv = ['virsh', '--connect', 'qemu:///system']

const OVS_TOOLS = new Set(['ovs-vsctl', 'ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vswitchd-dpdk', 'ovs-appctl'])

export function resolveAccel(vm: VmModel, options: CompileOptions): Accel {
  return vm.accel === 'auto' ? options.autoAccel : vm.accel
}

export function compileLab(lab: LabModel, options: CompileOptions): Artifacts {
  assertArgSafe('run directory', options.runDir, /^\/[A-Za-z0-9_./+@:-]*$/)
  for (const p of [options.guest.kernel, options.guest.initrd]) assertArgSafe('guest image path', p, /^\/[A-Za-z0-9_./+@:-]*$/)
  assertArgSafe('lab name', lab.name)
  // Defence in depth: every lab value re-checked against the schema's shapes (src/compile/safety.ts).
  assertModelSafe(lab)
  const env: CompileEnv = {
    lab,
    options,
    runDir: options.runDir,
    netns: lab.host.isolation === 'netns' ? netnsName(lab.name) : undefined,
    degraded: [],
    notes: [],
    waived: {devices: new Set(), modules: new Set()},
    ovs: new Map(),
  }

  // 1. Resolve every NIC against the lab (switch, backend rules, degraded paths, guest MAC).
  const switchIndex = new Map(lab.switches.map((sw, i) => [sw.name, i]))
  const vmSites: VmSite[] = lab.vms.map((vm, vmIndex) => {
    assertArgSafe('VM name', vm.name)
    const accel = resolveAccel(vm, options)
    const nics = vm.nics.map((nic): NicSite => {
      const index = nic.switch === undefined ? -1 : switchIndex.get(nic.switch)
      if (index === undefined) throw compileError('COMPILE_UNKNOWN_SWITCH', `${vm.name} NIC ${nic.index}: no switch named ${nic.switch}`)
      if (nic.address !== undefined) assertArgSafe('NIC address', nic.address)
      const site: NicSite = {env, vm, vmIndex, nic, accel, mac: nic.mac, sw: index < 0 ? undefined : lab.switches[index], switchIndex: index}
      return site
    })
    return {env, vm, vmIndex, accel, backing: vm.memoryBacking as Backing, nics}
  })
  // OVS instances must be known before backends look at ports.
  env.ovs = ovsInstances(env)

  for (const site of vmSites) {
    for (const nic of site.nics) {
      const backend = backendFor(nic.nic.backend)
      backend.prepare(nic)
      nic.mac = backend.guestMac?.(nic) ?? nic.nic.mac
    }
    const shared = site.nics.some((n) => backendFor(n.nic.backend).sharedMemory)
    if (site.backing === 'default' && shared) site.backing = 'memfd'
    if (site.backing === 'hugepages' && lab.host.hugepages === undefined) {
      throw compileError('HUGEPAGES_NOT_CONFIGURED', `${site.vm.name} uses memoryBacking: hugepages but the lab has no host.hugepages`, 'Add host: {hugepages: {size: 2M, count: N}} with enough pages for the VM.')
    }
  }

  // 2. Steps, in order: host, devices, switches (with the hugepage/mount steps OVS-DPDK needs), NICs, VMs.
  const host = hostSteps(env)
  const steps: Step[] = [...host.steps]
  steps.push(...switchSteps(env, host.memorySteps))
  const devices = deviceSteps(env)
  steps.push(...devices)

  const domains: DomainArtifact[] = []
  const qemu: QemuArtifact[] = []
  for (const site of vmSites) {
    const nicStepIds: string[] = []
    for (const nic of site.nics) {
      for (const s of backendFor(nic.nic.backend).hostSteps(nic)) {
        steps.push(s)
        nicStepIds.push(s.id)
      }
    }
    const startDeps = ['rundir', ...nicStepIds, ...devices.filter((s) => s.phase === 'devices').map((s) => s.id), ...(site.backing === 'hugepages' ? host.memorySteps : [])]
    if (site.vm.image.type === 'cloud') {
      const cloud = cloudImageSteps(site)
      steps.push(...cloud)
      startDeps.push(...cloud.map((s) => s.id))
    }
    if (options.driver === 'libvirt') {
      const xml = domainXml(site)
      const name = names.domain(env, site.vm.name)
      domains.push({vm: site.vm.name, name, xml})
      steps.push(...libvirtVmSteps(site, name, xml, startDeps))
    } else {
      const argv = qemuArgv(site)
      qemu.push({vm: site.vm.name, argv})
      steps.push(qemuVmStep(site, argv, startDeps))
    }
    steps.push(...guestReadySteps(site))
  }

  const unique = dedupeSteps(steps)
  return {
    lab,
    options,
    netns: env.netns,
    degraded: [...new Set(env.degraded)],
    notes: [...new Set(env.notes)],
    domains,
    qemu,
    ovsCommands: unique.flatMap((s) => (s.action.kind === 'exec' && OVS_TOOLS.has(basename(s.action.argv[0] ?? '')) ? [s.action.argv] : [])),
    steps: unique,
  }
}

function basename(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1)
}

/** Backends may each ask for a shared step (the vhost-user socket directory): keep the first, refuse a conflicting one. */
function dedupeSteps(steps: Step[]): Step[] {
  const byId = new Map<string, string>()
  const out: Step[] = []
  for (const s of steps) {
    const json = JSON.stringify(s)
    const seen = byId.get(s.id)
    if (seen === undefined) {
      byId.set(s.id, json)
      out.push(s)
    } else if (seen !== json) {
      throw compileError('INTERNAL', `internal: two different steps with id ${s.id}`)
    }
  }
  return out
}

function libvirtVmSteps(site: VmSite, name: string, xml: string, startDeps: string[]): Step[] {
  const {env, vm} = site
  const file = paths.domainXml(env, vm.name)
  const ref = 'docs/labs/host.md#guests-under-libvirt-or-plain-qemu (virsh define/start; destroy/undefine at teardown)'
  return [
    step({
      id: `vm:${vm.name}:xml`,
      title: `Write the libvirt domain XML of ${vm.name} to ${file}`,
      phase: 'vm',
      action: {kind: 'file', path: file, content: xml, mode: 0o644},
      undo: {kind: 'action', action: {kind: 'remove', path: file}},
      dependsOn: ['rundir'],
      ref,
    }),
    step({
      id: `vm:${vm.name}:define`,
      title: `Define libvirt domain ${name}`,
      phase: 'vm',
      // The first define after libvirtd starts probes QEMU's capabilities (tens of seconds under TCG).
      action: exec([...VIRSH, 'define', file], {timeoutMs: 300_000}),
      check: execMatches([...VIRSH, 'domuuid', name], `^${uuidOf(xml)}`),
      undo: undoExec([...VIRSH, 'undefine', name], [1]),
      dependsOn: [`vm:${vm.name}:xml`],
      timeoutMs: 300_000,
      ref,
    }),
    step({
      id: `vm:${vm.name}:start`,
      title: `Start domain ${name} (${site.accel === 'kvm' ? 'KVM' : 'TCG'}, ${vm.vcpus} vCPU, ${vm.memoryMiB} MiB)`,
      phase: 'vm',
      action: exec([...VIRSH, 'start', name], {timeoutMs: 120_000}),
      check: execMatches([...VIRSH, 'domstate', name], '^running'),
      undo: undoExec([...VIRSH, 'destroy', name], [1]),
      dependsOn: [`vm:${vm.name}:define`, ...startDeps],
      timeoutMs: 120_000,
      ref,
    }),
  ]
}

/** How long a built-in guest may take to print its ready marker (TCG on a loaded 2-core host: 8-15 s, generous margin). */
export const GUEST_READY_TIMEOUT_MS = 240_000
/** How long the guest agent may take to answer once the guest said it is ready. */
export const GUEST_AGENT_TIMEOUT_MS = 60_000

/**
 * Phase 'guest': `up` returns only when the guests are reachable. The built-in guest's /init prints
 * "VIRTLAB-READY <vm>" on the serial console (the console log in the run directory) once its
 * network is configured and qemu-ga holds its virtio-serial port; libvirt then proves the agent
 * answers (virsh qemu-agent-command guest-ping). The wait gives up at once if the VM's QEMU is gone.
 */
function guestReadySteps(site: VmSite): Step[] {
  const {env, vm} = site
  const libvirt = env.options.driver === 'libvirt'
  const domain = names.domain(env, vm.name)
  const gone = libvirt
    ? {kind: 'not' as const, check: execMatches([...VIRSH, 'domstate', domain], '^(running|paused)')}
    : {kind: 'not' as const, check: runningByPidfile(paths.pidfile(env, vm.name))}
  const goneMessage = libvirt ? `libvirt domain ${domain} is no longer running` : `the QEMU process of ${vm.name} is gone (${paths.pidfile(env, vm.name)})`
  const steps: Step[] = []
  let last = `vm:${vm.name}:start`
  if (vm.image.type === 'builtin') {
    const log = paths.consoleLog(env, vm.name)
    steps.push(step({
      id: `vm:${vm.name}:ready`,
      title: `Wait until ${vm.name} has booted (its console log ${log} shows ${READY_MARKER} ${vm.name})`,
      phase: 'guest',
      action: {
        kind: 'wait',
        what: `${vm.name} to print "${READY_MARKER} ${vm.name}" on its console`,
        until: execOk(['grep', '-q', '-E', '--', `^${READY_MARKER} ${reEscape(vm.name)}[[:space:]]*$`, log]),
        timeoutMs: GUEST_READY_TIMEOUT_MS,
        intervalMs: 1000,
        failIf: gone,
        failMessage: `${goneMessage}; see ${log}`,
      },
      dependsOn: [last],
      ref: 'docs/labs/host.md#the-built-in-guest-and-its-agent (ready marker after qemu-ga opened its port)',
    }))
    last = `vm:${vm.name}:ready`
  }
  if (libvirt) {
    steps.push(step({
      id: `vm:${vm.name}:agent`,
      title: `Wait until the guest agent of ${vm.name} answers (virsh qemu-agent-command ${domain} guest-ping)`,
      phase: 'guest',
      action: {
        kind: 'wait',
        what: `the guest agent of ${vm.name} to answer guest-ping`,
        until: execOk([...VIRSH, 'qemu-agent-command', domain, '{"execute":"guest-ping"}']),
        timeoutMs: vm.image.type === 'builtin' ? GUEST_AGENT_TIMEOUT_MS : GUEST_READY_TIMEOUT_MS,
        intervalMs: 1000,
        failIf: gone,
        failMessage: goneMessage,
      },
      dependsOn: [last],
      ref: 'docs/labs/host.md#the-built-in-guest-and-its-agent (virsh qemu-agent-command; guest-ping)',
    }))
  }
  return steps
}

function uuidOf(xml: string): string {
  const m = /<uuid>([0-9a-f-]{36})<\/uuid>/.exec(xml)
  if (m?.[1] === undefined) throw compileError('INTERNAL', 'internal: domain XML without a uuid')
  return m[1]
}

function qemuVmStep(site: VmSite, argv: Argv, startDeps: string[]): Step {
  const {env, vm} = site
  const pidfile = paths.pidfile(env, vm.name)
  const prefix: Argv = []
  if (site.nics.some((n) => backendFor(n.nic.backend).locksMemory)) prefix.push(...qemuMemlockPrefix(vm.memoryMiB))
  if (vm.cpuset !== undefined) prefix.push('taskset', '-c', vm.cpuset)
  if (vm.numaNode !== undefined) env.notes.push(`${vm.name}: numaNode is applied by libvirt only; the qemu driver does not bind memory`)
  return step({
    id: `vm:${vm.name}:start`,
    title: `Start QEMU for ${vm.name} (${site.accel === 'kvm' ? 'KVM' : 'TCG'}, ${vm.vcpus} vCPU, ${vm.memoryMiB} MiB)${prefix.length > 0 ? ` under ${prefix[0]}${prefix.includes('taskset') && prefix[0] !== 'taskset' ? ' and taskset' : ''}` : ''}`,
    phase: 'vm',
    action: exec([...prefix, ...argv], {timeoutMs: 120_000}),
    check: runningByPidfile(pidfile),
    undo: stopByPidfile(`QEMU of ${vm.name}`, pidfile),
    dependsOn: startDeps,
    timeoutMs: 120_000,
    ref: 'docs/labs/host.md#guests-under-libvirt-or-plain-qemu (plain QEMU)',
  })
}

export {QEMU_BINARY}

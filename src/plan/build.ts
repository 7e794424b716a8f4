/**
 * buildPlan(artifacts, facts) -> Plan. Pure: it orders nothing new and runs nothing; it checks the
 * compiled steps form a valid graph, resolves the values that depend on the host (how many
 * hugepages to write, which ovs-vswitchd binary), and explains every decision in plan.notes.
 */
import type {Artifacts} from '../compile/artifacts.js'
import {VirtlabError} from '../errors.js'
import type {HostFacts} from '../host/facts.js'
import {OVS_VSWITCHD_DPDK, ovsInstances} from '../switches/ovs.js'
import {labHugepages} from '../compile/host.js'
import type {CompileEnv} from '../compile/context.js'
import type {Check, Plan, Step} from './step.js'

export function buildPlan(artifacts: Artifacts, facts: HostFacts): Plan {
  const steps = structuredClone(artifacts.steps)
  checkGraph(steps)
  const notes = [...artifacts.notes]
  const {lab, options} = artifacts
  // The compiler's view of the lab, rebuilt without side effects (notes go to a scratch list).
  const env: CompileEnv = {lab, options, runDir: options.runDir, netns: artifacts.netns, degraded: [], notes: [], waived: {devices: new Set(), modules: new Set()}, ovs: new Map()}
  env.ovs = ovsInstances(env)

  // accel
  const autoVms = lab.vms.filter((vm) => vm.accel === 'auto').map((vm) => vm.name)
  if (autoVms.length > 0) notes.push(`accel auto -> ${options.autoAccel} (${autoVms.join(', ')}): ${kvmReason(facts)}`)
  if (options.autoAccel === 'kvm' && facts.probed && facts.kvm !== 'usable') notes.push(`warning: accel auto resolves to kvm but KVM is ${facts.kvm} on this host`)
  const kvmVms = lab.vms.filter((vm) => vm.accel === 'kvm').map((vm) => vm.name)
  if (kvmVms.length > 0 && facts.probed && facts.kvm !== 'usable') notes.push(`warning: ${kvmVms.join(', ')} ask for accel kvm, but KVM is ${facts.kvm} on this host`)

  // OVS instances
  const autoSwitches = lab.switches.filter((sw) => sw.type === 'ovs' && sw.ovs === 'auto').map((sw) => sw.name)
  if (autoSwitches.length > 0) {
    const why = !facts.probed
      ? 'host not probed'
      : facts.ovs.systemRunning ? 'the host\'s OVS is running' : 'no running system OVS'
    notes.push(`ovs auto -> ${options.autoOvs === 'private' ? 'private instance' : 'system OVS'} (${autoSwitches.join(', ')}): ${why}`)
  }
  for (const inst of env.ovs.values()) {
    if (!inst.dpdk) continue
    if (inst.physical) {
      const pcis = inst.switches.flatMap(({sw}) => sw.physicalPorts.map((p) => p.pci))
      notes.push(`DPDK -a ${pcis.join(' -a ')}: only the lab's physical ports are probed`)
    } else {
      notes.push('DPDK --no-pci: the lab names no physical port')
    }
    if (inst.mode === 'private') resolveVswitchd(steps, facts, notes)
    else notes.push('system OVS: dpdk-* other_config keys take effect only when the host restarts ovs-vswitchd; virtlab waits for dpdk_initialized')
  }
  if (options.autoOvs === 'system' && facts.probed && !facts.ovs.systemRunning && lab.switches.some((sw) => sw.type === 'ovs' && sw.ovs !== 'private')) {
    notes.push('warning: the lab uses the system OVS, but it is not running')
  }

  // hugepages
  const hp = labHugepages(env)
  const hpStep = steps.find((s) => s.id === 'hugepages')
  if (hp !== undefined && hpStep !== undefined && hpStep.action.kind === 'write') {
    const key = String(hp.sizeKiB)
    const pool = hp.node === undefined ? facts.hugepages[key] : facts.hugepagesByNode?.[String(hp.node)]?.[key]
    const total = pool?.total ?? 0
    const free = pool?.free ?? 0
    const target = Math.max(total, total - free + hp.count)
    const value = String(target)
    hpStep.action = {...hpStep.action, value}
    hpStep.check = {kind: 'file-equals', path: hpStep.action.path, value}
    const where = hp.node === undefined ? '' : ` on node ${hp.node}`
    notes.push(free >= hp.count
      ? `hugepages ${hp.sizeKiB} kB${where}: ${free} of ${total} free, ${hp.count} needed: nothing to reserve (the step is skipped)`
      : `hugepages ${hp.sizeKiB} kB${where}: ${free} of ${total} free, ${hp.count} needed -> write nr_hugepages=${target}${facts.probed ? '' : ' (host not probed: assumed none reserved)'}`)
    if (facts.hugetlbfsMounts.some((m) => m.path === hp.mount && m.pagesizeKiB === hp.sizeKiB)) {
      notes.push(`hugetlbfs: already mounted at ${hp.mount} (the mount step is skipped)`)
    }
  }

  if (facts.probed && !facts.vhostNet && lab.vms.some((vm) => vm.nics.some((n) => n.backend === 'vhost-net')) && artifacts.degraded.length === 0) {
    notes.push('warning: vhost-net NICs were compiled for /dev/vhost-net, which this host lacks')
  }

  if (options.driver === 'libvirt' && facts.probed && facts.kvm !== 'absent') {
    const kvm = kvmAccessSteps()
    const ids = kvm.map((k) => k.id)
    for (const st of steps) if (/^vm:[^:]+:define$/.test(st.id)) st.dependsOn = [...new Set([...ids, ...st.dependsOn])]
    steps.unshift(...kvm)
    notes.push('libvirt: /dev/kvm is made accessible to group kvm (libvirt-qemu) while the lab is up, as udev does on a normal host: otherwise libvirtd re-probes QEMU on every call (~30 s each)')
  }

  return {
    lab: lab.name,
    driver: options.driver,
    netns: artifacts.netns,
    runDir: options.runDir,
    degraded: [...artifacts.degraded],
    notes,
    steps,
  }
}

function kvmReason(facts: HostFacts): string {
  if (!facts.probed) return 'host not probed (render and tests assume TCG)'
  const detail = facts.kvmProbe?.reason === undefined ? '' : ` (${facts.kvmProbe.reason})`
  switch (facts.kvm) {
    case 'usable': return `KVM is usable${detail}`
    case 'unusable': return `KVM present but unusable${detail}`
    case 'absent': return `no usable /dev/kvm${detail}`
  }
}

function resolveVswitchd(steps: Step[], facts: HostFacts, notes: string[]): void {
  const s = steps.find((x) => x.id === 'ovs:vswitchd')
  if (s === undefined || s.action.kind !== 'exec' || s.action.argv[0] !== OVS_VSWITCHD_DPDK) return
  const found = facts.ovs.dpdkBinary
  if (found === undefined) {
    notes.push(`warning: no DPDK build of ovs-vswitchd found (expected ${OVS_VSWITCHD_DPDK}; Debian package openvswitch-switch-dpdk)`)
  } else if (found !== OVS_VSWITCHD_DPDK) {
    s.action = {...s.action, argv: [found, ...s.action.argv.slice(1)]}
    notes.push(`ovs-vswitchd (DPDK build): ${found}`)
  }
}

/** Ids unique, every dependency an earlier step: the plan is a DAG in execution order. */
export function checkGraph(steps: readonly Step[]): void {
  const seen = new Set<string>()
  for (const s of steps) {
    if (seen.has(s.id)) throw new VirtlabError('PLAN_INVALID', `internal: step id ${s.id} appears twice`)
    for (const dep of s.dependsOn) {
      if (!seen.has(dep)) throw new VirtlabError('PLAN_INVALID', `internal: step ${s.id} depends on ${dep}, which is not an earlier step`)
    }
    seen.add(s.id)
  }
}

/**
 * libvirt runs QEMU as libvirt-qemu (group kvm). When that user cannot open /dev/kvm (a host
 * without udev leaves it root:root 0600), libvirtd finds its cached QEMU capabilities invalid
 * ("KVM was enabled when probing, but it is not available now") and probes QEMU again on every
 * define/start: ~30 s each here, minutes under load. Give group kvm read-write access, as udev's
 * rule does on a normal host; the previous group and mode are restored at down.
 */
function kvmAccessSteps(): Step[] {
  const dev = '/dev/kvm'
  const absent: Check = {kind: 'not', check: {kind: 'file-exists', path: dev}}
  return [
    {
      id: 'kvm:group',
      title: `Give group kvm (libvirt's QEMU user) ${dev} (restored at down)`,
      phase: 'host',
      action: {kind: 'exec', argv: ['chgrp', 'kvm', dev]},
      check: {kind: 'any', checks: [absent, {kind: 'exec-stdout', argv: ['stat', '-c', '%G', dev], pattern: '^kvm\\s*$'}]},
      undo: {kind: 'restore-exec', read: ['stat', '-c', '%G', dev], whenPresent: ['chgrp', '{previous}', dev], whenAbsent: []},
      dependsOn: [],
      ref: 'docs/labs/host.md#kvm-access',
    },
    {
      id: 'kvm:mode',
      title: `Let group kvm read and write ${dev} (restored at down)`,
      phase: 'host',
      action: {kind: 'exec', argv: ['chmod', 'g+rw', dev]},
      check: {kind: 'any', checks: [absent, {kind: 'exec-stdout', argv: ['stat', '-c', '%A', dev], pattern: '^.{4}rw'}]},
      undo: {kind: 'restore-exec', read: ['stat', '-c', '%a', dev], whenPresent: ['chmod', '{previous}', dev], whenAbsent: []},
      dependsOn: ['kvm:group'],
      ref: 'docs/labs/host.md#kvm-access',
    },
  ]
}

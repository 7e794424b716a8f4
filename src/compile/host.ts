/**
 * Host preparation: kernel modules, required device nodes, hugepages and the hugetlbfs mount, the
 * run directory and the lab's network namespace. docs/labs/host.md.
 */
import type {HugepagesModel} from '../lab/model.js'
import type {Check, Step} from '../plan/step.js'
import {MODULE_EVIDENCE} from '../host/probe.js'
import {assertArgSafe, type CompileEnv} from './context.js'
import {exec, execMatches, execOk, lineWord, linkUpStep, step, undoExec} from './steps.js'

const REF_PREREQ = 'docs/labs/host.md#kernel-modules-and-device-nodes'

export interface HostSteps {
  steps: Step[]
  /** Steps that make hugepages usable (the count and the mount): OVS-DPDK and hugepage-backed VMs wait for them. */
  memorySteps: string[]
}

/** /sys/module/<m> exists for loaded and built-in modules; its name uses '_' where modprobe accepts '-'. */
export function moduleSysPath(module: string): string {
  return `/sys/module/${module.replaceAll('-', '_')}`
}

export function nrHugepagesPath(hp: Pick<HugepagesModel, 'sizeKiB' | 'node'>): string {
  return hp.node === undefined
    ? `/sys/kernel/mm/hugepages/hugepages-${hp.sizeKiB}kB/nr_hugepages`
    : `/sys/devices/system/node/node${hp.node}/hugepages/hugepages-${hp.sizeKiB}kB/nr_hugepages`
}

/** The lab's hugepages: host.hugepages, or (OVS-DPDK without it) enough 2 MiB pages for dpdk-socket-mem. */
export function labHugepages(env: CompileEnv): HugepagesModel | undefined {
  if (env.lab.host.hugepages !== undefined) return env.lab.host.hugepages
  const dpdk = [...env.ovs.values()].find((i) => i.dpdk)
  if (dpdk === undefined) return undefined
  const mib = dpdk.dpdkConfig.socketMem.split(',').reduce((sum, v) => sum + Number(v), 0)
  const count = Math.max(1, Math.ceil(mib / 2))
  env.notes.push(`hugepages: the lab names none; OVS-DPDK socket-mem ${dpdk.dpdkConfig.socketMem} MiB -> ${count} x 2 MiB pages`)
  return {size: '2M', sizeKiB: 2048, count, node: undefined, mount: '/dev/hugepages'}
}

/** The module is loaded or built in: /sys/module/<m>, or its feature's device node / bus. */
export function moduleEvidence(module: string): Check {
  const sys: Check = {kind: 'file-exists', path: moduleSysPath(module)}
  const other = MODULE_EVIDENCE[module.replaceAll('-', '_')] ?? []
  return other.length === 0 ? sys : {kind: 'any', checks: [sys, ...other.map((path): Check => ({kind: 'file-exists', path}))]}
}

export function hostSteps(env: CompileEnv): HostSteps {
  const steps: Step[] = []
  const moduleIds: string[] = []
  // The OVS kernel datapath lives in the openvswitch module: ovs-vswitchd does not load it (the
  // system service's ovs-ctl does), so a lab with a system-datapath OVS switch loads it itself.
  const modules = [...env.lab.host.modules]
  const kernelOvs = env.lab.switches.filter((sw) => sw.type === 'ovs' && sw.datapath === 'system').map((sw) => sw.name)
  if (kernelOvs.length > 0 && !modules.some((m) => m.replaceAll('-', '_') === 'openvswitch')) {
    modules.push('openvswitch')
    env.notes.push(`module openvswitch: loaded for the OVS kernel datapath (${kernelOvs.join(', ')})`)
  }
  for (const module of modules) {
    if (env.waived.modules.has(module)) {
      env.notes.push(`module ${module}: not loaded (${env.degraded[0] ?? 'degraded'})`)
      continue
    }
    assertArgSafe('module name', module)
    const id = `module:${module}`
    moduleIds.push(id)
    steps.push(step({
      id,
      title: `Load kernel module ${module} (skipped when already loaded or built in; unloaded at down only if virtlab loaded it)`,
      phase: 'host',
      action: exec(['modprobe', module]),
      // Built-in code without parameters has no /sys/module/<m>: its device node or bus is the evidence (tun: /dev/net/tun).
      check: moduleEvidence(module),
      undo: undoExec(['modprobe', '-r', module]),
      ref: REF_PREREQ,
    }))
  }
  for (const device of env.lab.host.devices) {
    if (env.waived.devices.has(device)) {
      env.notes.push(`device ${device}: not required (${env.degraded[0] ?? 'degraded'})`)
      continue
    }
    steps.push(step({
      id: `device:${device}`,
      title: `Require device node ${device}`,
      phase: 'host',
      action: {kind: 'wait', what: `${device} to exist`, until: {kind: 'file-exists', path: device}, timeoutMs: 2_000, intervalMs: 200},
      dependsOn: moduleIds,
      ref: REF_PREREQ,
    }))
  }

  const memorySteps: string[] = []
  const hp = labHugepages(env)
  if (hp !== undefined) {
    const path = nrHugepagesPath(hp)
    steps.push(step({
      id: 'hugepages',
      title: `Reserve ${hp.count} x ${hp.size} hugepages${hp.node === undefined ? '' : ` on NUMA node ${hp.node}`} (nr_hugepages raised only as far as needed; restored at down)`,
      phase: 'host',
      // buildPlan replaces the value (and the check) with what the host's facts call for.
      action: {kind: 'write', path, value: String(hp.count)},
      check: {kind: 'file-equals', path, value: String(hp.count)},
      undo: {kind: 'restore-file', path},
      ref: 'docs/labs/host.md#hugepages (nr_hugepages per size / per node)',
    }))
    assertArgSafe('hugetlbfs mount', hp.mount, /^\/[A-Za-z0-9_./+@:-]*$/)
    steps.push(
      step({
        id: 'mkdir:hugetlbfs',
        title: `Create the hugetlbfs mount point ${hp.mount}`,
        phase: 'host',
        action: {kind: 'mkdir', path: hp.mount, mode: 0o755},
        check: {kind: 'file-exists', path: hp.mount},
        undo: {kind: 'action', action: {kind: 'remove', path: hp.mount}},
        ref: 'docs/labs/host.md#hugepages (hugetlbfs mounted)',
      }),
      step({
        id: 'mount:hugetlbfs:empty',
        title: `Make sure ${hp.mount} is an empty directory or already a hugetlbfs mount (never mount over content)`,
        phase: 'host',
        action: {
          kind: 'wait',
          what: `${hp.mount} to be empty or a hugetlbfs mount`,
          until: {kind: 'any', checks: [{kind: 'mounted', path: hp.mount, fstype: 'hugetlbfs'}, {kind: 'dir-empty', path: hp.mount}]},
          timeoutMs: 1_000,
          intervalMs: 100,
          failIf: {kind: 'not', check: {kind: 'any', checks: [{kind: 'mounted', path: hp.mount, fstype: 'hugetlbfs'}, {kind: 'dir-empty', path: hp.mount}]}},
          failMessage: `${hp.mount} is not empty and not a hugetlbfs mount: virtlab does not mount over it (choose another host.hugepages.mount, or empty it yourself)`,
        },
        dependsOn: ['mkdir:hugetlbfs'],
        ref: 'docs/labs/host.md#hugepages (never mount over a directory\'s content)',
      }),
      step({
        id: 'mount:hugetlbfs',
        title: `Mount hugetlbfs (pagesize ${hp.size}) on ${hp.mount} unless it is mounted`,
        phase: 'host',
        action: exec(['mount', '-t', 'hugetlbfs', '-o', `pagesize=${hp.size}`, 'none', hp.mount]),
        check: execOk(['findmnt', '--types', 'hugetlbfs', '--mountpoint', hp.mount]),
        undo: undoExec(['umount', hp.mount]),
        dependsOn: ['mount:hugetlbfs:empty'],
        ref: 'docs/labs/host.md#hugepages (mount -t hugetlbfs none /dev/hugepages)',
      }),
    )
    memorySteps.push('hugepages', 'mount:hugetlbfs')
  }

  const libvirt = env.options.driver === 'libvirt'
  const runBase = env.runDir.replace(/\/+$/, '').replace(/\/[^/]+$/, '')
  if (runBase !== '' && runBase !== '/') {
    steps.push(step({
      id: 'runbase',
      title: `Create ${runBase}, where run directories live, unless it exists (removed at down when virtlab made it and it is empty)`,
      phase: 'host',
      action: {kind: 'mkdir', path: runBase, mode: 0o755},
      check: {kind: 'file-exists', path: runBase},
      undo: undoExec(['rmdir', '--ignore-fail-on-non-empty', runBase], [1]),
      ref: 'docs/labs/host.md#the-run-directory (the run directory base, /run/virtlab by default)',
    }))
  }
  steps.push(step({
    id: 'rundir',
    title: libvirt
      ? `Create the run directory ${env.runDir} (root:libvirt-qemu 0775: libvirt's QEMU writes the console log and agent socket there)`
      : `Create the run directory ${env.runDir}`,
    phase: 'host',
    action: libvirt
      ? {kind: 'mkdir', path: env.runDir, mode: 0o775, owner: {user: 'root', group: 'libvirt-qemu'}}
      : {kind: 'mkdir', path: env.runDir, mode: 0o755},
    undo: {kind: 'action', action: {kind: 'remove', path: env.runDir, recursive: true}},
    ref: 'docs/labs/host.md#the-run-directory (libvirt runs QEMU as libvirt-qemu)',
    dependsOn: runBase !== '' && runBase !== '/' ? ['runbase'] : [],
  }))

  if (env.netns !== undefined) {
    const ns = env.netns
    steps.push(
      step({
        id: 'netns',
        title: `Create network namespace ${ns} (the lab's host-side endpoints)`,
        phase: 'host',
        action: exec(['ip', 'netns', 'add', ns]),
        check: execMatches(['ip', 'netns', 'list'], lineWord(ns)),
        undo: undoExec(['ip', 'netns', 'delete', ns], [1]),
        ref: 'docs/labs/host.md#the-lab-network-namespace',
      }),
      linkUpStep({id: 'netns:lo', title: `Bring loopback up in ${ns}`, phase: 'host', netns: ns, ifname: 'lo', dependsOn: ['netns']}),
    )
  }
  return {steps, memorySteps}
}

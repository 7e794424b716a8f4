/**
 * SR-IOV provisioning as plan steps (labs-reference.md §4.1-4.4; kernel pci-iov-howto,
 * drivers/pci/iov.c sriov_numvfs_store; ip-link(8); avocado-vt utils_sriov; §5.5 for switchdev).
 *
 * Per PF, in order:
 *   record    the PF's state (and refuse early: no such PF, no SR-IOV, more VFs than sriov_totalvfs)
 *   numvfs-0  write 0 to sriov_numvfs — unless a VF is in use by a guest (SRIOV_VF_IN_USE)
 *   autoprobe write sriov_drivers_autoprobe (after the 0, so an undo recreates old VFs under the old autoprobe)
 *   numvfs    write N; re-read: fail with the count the driver gave
 *   eswitch   devlink dev eswitch set pci/<PF> mode switchdev (representors appear)
 *   per VF:   record its state; ip link set <pf> vf N mac/vlan/spoofchk/trust/state/rates;
 *             vfio-pci: unbind from its driver, driver_override=vfio-pci, drivers_probe, IOMMU group viable;
 *             host: drivers_probe so its host driver takes it;
 *             vf.switch: the VF (legacy) or its representor (switchdev) as an OVS port.
 *
 * Undo is kernel-correct and exact: numvfs N is undone by writing 0, then the 0-step's undo writes
 * the old count back (0 -> old, never non-zero over non-zero); every VF setting is restored from
 * the record taken before it changed; drivers go back to the recorded driver; driver_override is
 * cleared with "\n" (writing back the "(null)" it reads would set an override named "(null)").
 */
import {VirtlabError} from '../errors.js'
import {netnsName} from '../compile/ids.js'
import type {LabModel, SriovModel, VfModel} from '../lab/model.js'
import type {Action, Argv, Check, Step} from '../plan/step.js'
import {token} from '../plan/tokens.js'
import {isBdf, pfDevicePath} from './sysfs.js'

export const LABS_REF_SRIOV = 'labs-reference.md §4.2'

export interface DeviceStepOptions {
  /** The lab's run directory (records of previous device state go to <runDir>/sriov and <runDir>/vdpa). */
  runDir: string
  /** Steps the first device step waits for (e.g. the run directory, the lab netns). */
  dependsOn?: string[]
  /**
   * How to reach the OVS switch a VF port joins: extra ovs-vsctl arguments (a private instance's
   * --db=unix:...) and the id of the step that creates the bridge. Default: system OVS, no dependency.
   */
  ovs?: (switchName: string) => {dbArgs: string[]; bridgeStepId: string | undefined}
}

const WAIT_BIND_MS = 10_000

/** Token args for a PF (its netdev or PCI address). */
function pfArgs(pf: string): string[] {
  return [pf]
}

export function sriovRecordDir(runDir: string): string {
  return `${runDir.replace(/\/+$/, '')}/sriov`
}

function recordPath(runDir: string, s: SriovModel, what: string): string {
  return `${sriovRecordDir(runDir)}/${s.name}.${what}.json`
}

/** The id of the last step of a PF's provisioning (vDPA on an mlx5 VF waits for it). */
export function sriovTailStepId(model: LabModel, s: SriovModel, runDir = '/run/virtlab'): string {
  const steps = pfSteps(model, s, {runDir}, [])
  return steps.at(-1)?.id ?? `sriov:${s.name}:numvfs`
}

function validate(model: LabModel): void {
  for (const s of model.sriov) {
    for (const vf of s.vf) {
      if (vf.index >= s.vfs) {
        throw new VirtlabError('LAB_SRIOV_VF_INDEX', `sriov ${s.name}: vf ${vf.index} is configured but only ${s.vfs} VFs are created (indices 0-${s.vfs - 1})`, {hint: `Raise vfs to ${vf.index + 1} or remove the vf entry.`})
      }
      if (vf.minTxRate !== undefined && vf.maxTxRate !== undefined && vf.maxTxRate !== 0 && vf.minTxRate > vf.maxTxRate) {
        throw new VirtlabError('LAB_SRIOV_RATE', `sriov ${s.name}: vf ${vf.index} has minTxRate ${vf.minTxRate} above maxTxRate ${vf.maxTxRate}`, {hint: 'min_tx_rate must not exceed max_tx_rate (ip-link(8)).'})
      }
      if (vf.switch !== undefined) {
        const sw = model.switches.find((x) => x.name === vf.switch)
        if (sw === undefined) throw new VirtlabError('LAB_SRIOV_SWITCH', `sriov ${s.name}: vf ${vf.index} joins switch ${vf.switch}, which the lab does not define`, {hint: 'Add it under switches: (type: ovs).'})
        if (sw.type !== 'ovs') throw new VirtlabError('LAB_SRIOV_SWITCH', `sriov ${s.name}: vf ${vf.index} can join an OVS switch only (${vf.switch} is a ${sw.type})`, {hint: 'Use type: ovs for the switch.'})
        if (s.eswitchMode === 'legacy' && vf.driver === 'vfio-pci') {
          throw new VirtlabError('LAB_SRIOV_SWITCH', `sriov ${s.name}: vf ${vf.index} is bound to vfio-pci, so in legacy mode it has no host netdev to add to ${vf.switch}`, {hint: 'Use eswitchMode: switchdev (the representor joins the switch) or driver: host.'})
        }
      }
    }
    const used = model.vms.flatMap((vm) => vm.nics.filter((n) => n.sriov?.pf === s.name).map((n) => ({vm: vm.name, vf: n.sriov?.vf ?? 0})))
    for (const u of used) {
      if (u.vf >= s.vfs) throw new VirtlabError('LAB_SRIOV_VF_INDEX', `vm ${u.vm} uses VF ${u.vf} of ${s.name}, which creates only ${s.vfs} VFs`, {hint: `Raise vfs to ${u.vf + 1}.`})
      const cfg = s.vf.find((v) => v.index === u.vf)
      if (cfg?.driver === 'host') throw new VirtlabError('LAB_SRIOV_VF_DRIVER', `vm ${u.vm} uses VF ${u.vf} of ${s.name}, which the lab keeps on its host driver`, {hint: 'A VF given to a guest needs driver: vfio-pci (the default).'})
    }
  }
}

/** The VFs a lab provisions: the configured ones plus the ones only a VM names (vfio-pci, no settings). */
function vfsOf(model: LabModel, s: SriovModel): VfModel[] {
  const out = new Map<number, VfModel>(s.vf.map((v) => [v.index, v]))
  for (const vm of model.vms) {
    for (const nic of vm.nics) {
      if (nic.sriov?.pf === s.name && !out.has(nic.sriov.vf)) {
        out.set(nic.sriov.vf, {index: nic.sriov.vf, mac: undefined, vlan: undefined, spoofchk: undefined, trust: undefined, state: undefined, minTxRate: undefined, maxTxRate: undefined, driver: 'vfio-pci', switch: undefined})
      }
    }
  }
  return [...out.values()].sort((a, b) => a.index - b.index)
}

/** The `vf N ...` arguments of `ip link set` for the settings a VF entry gives, and their undo from the record. */
export function vfLinkArgs(vf: VfModel, record: string): {set: Argv; restore: Argv} {
  const set: Argv = []
  const restore: Argv = []
  const saved = (field: string) => token('saved', record, field)
  if (vf.mac !== undefined) {
    set.push('mac', vf.mac.toLowerCase())
    restore.push('mac', saved('mac'))
  }
  if (vf.vlan !== undefined) {
    set.push('vlan', String(vf.vlan.id))
    if (vf.vlan.qos !== undefined) set.push('qos', String(vf.vlan.qos))
    if (vf.vlan.proto !== undefined) set.push('proto', vf.vlan.proto)
    restore.push('vlan', saved('vlan'), 'qos', saved('qos'), 'proto', saved('proto'))
  }
  if (vf.spoofchk !== undefined) {
    set.push('spoofchk', vf.spoofchk ? 'on' : 'off')
    restore.push('spoofchk', saved('spoofchk'))
  }
  if (vf.trust !== undefined) {
    set.push('trust', vf.trust ? 'on' : 'off')
    restore.push('trust', saved('trust'))
  }
  if (vf.state !== undefined) {
    set.push('state', vf.state)
    restore.push('state', saved('state'))
  }
  if (vf.minTxRate !== undefined || vf.maxTxRate !== undefined) {
    if (vf.minTxRate !== undefined) set.push('min_tx_rate', String(vf.minTxRate))
    if (vf.maxTxRate !== undefined) set.push('max_tx_rate', String(vf.maxTxRate))
    restore.push('min_tx_rate', saved('min_tx_rate'), 'max_tx_rate', saved('max_tx_rate'))
  }
  return {set, restore}
}

function write(path: string, value: string): Action {
  return {kind: 'write', path, value}
}

function exec(argv: Argv): Action {
  return {kind: 'exec', argv}
}

function pfSteps(model: LabModel, s: SriovModel, opts: DeviceStepOptions, rootDeps: string[]): Step[] {
  const steps: Step[] = []
  const D = pfDevicePath(s.pf)
  const P = pfArgs(s.pf)
  const name = s.pf
  const numvfs = `${D}/sriov_numvfs`
  const id = (...parts: (string | number)[]) => ['sriov', s.name, ...parts].join(':')
  let prev = rootDeps
  const add = (step: Omit<Step, 'dependsOn' | 'phase'> & {phase?: Step['phase']; dependsOn?: string[]}) => {
    steps.push({phase: 'devices', ref: LABS_REF_SRIOV, ...step, dependsOn: step.dependsOn ?? prev})
    prev = [step.id]
  }
  const pfNetdev = isBdf(s.pf) ? token('pf-netdev', ...P) : s.pf
  const pfBdf = isBdf(s.pf) ? s.pf.toLowerCase() : token('pf-pci', ...P)

  add({
    id: id('records'),
    title: `${s.name}: directory for the state virtlab changes (${sriovRecordDir(opts.runDir)})`,
    action: {kind: 'mkdir', path: sriovRecordDir(opts.runDir), mode: 0o700},
    check: {kind: 'file-exists', path: sriovRecordDir(opts.runDir)},
    undo: {kind: 'action', action: {kind: 'remove', path: sriovRecordDir(opts.runDir), recursive: true}},
  })
  add({
    id: id('record'),
    title: `${s.name}: check PF ${name} (SR-IOV capable, at least ${s.vfs} VFs) and record its state`,
    action: {kind: 'file', path: recordPath(opts.runDir, s, 'pf'), content: token('sriov-pf', ...P, s.vfs), mode: 0o600},
    undo: {kind: 'action', action: {kind: 'remove', path: recordPath(opts.runDir, s, 'pf')}},
    ref: 'labs-reference.md §4.1',
  })
  add({
    id: id('numvfs-zero'),
    title: `${s.name}: disable existing VFs of ${name} (write 0 to sriov_numvfs; refused while a guest uses a VF)`,
    action: write(numvfs, token('sriov-idle', ...P, 0)),
    check: {kind: 'any', checks: [{kind: 'file-equals', path: numvfs, value: '0'}, {kind: 'file-equals', path: numvfs, value: String(s.vfs)}]},
    // 0 -> previous count: kernel-correct, the numvfs step's undo has written 0 before this runs.
    undo: {kind: 'restore-file', path: numvfs},
    ref: 'labs-reference.md §4.1 (EBUSY: write 0 first)',
  })
  const autoprobe = `${D}/sriov_drivers_autoprobe`
  const ap = s.driversAutoprobe ? '1' : '0'
  add({
    id: id('autoprobe'),
    title: `${s.name}: sriov_drivers_autoprobe = ${ap} on ${name}${s.driversAutoprobe ? '' : ' (VF drivers do not claim new VFs)'}`,
    action: write(autoprobe, ap),
    check: {kind: 'file-equals', path: autoprobe, value: ap},
    undo: {kind: 'restore-file', path: autoprobe},
  })
  add({
    id: id('numvfs'),
    title: `${s.name}: enable ${s.vfs} VFs on ${name} (write ${s.vfs} to sriov_numvfs)`,
    action: write(numvfs, String(s.vfs)),
    check: {kind: 'file-equals', path: numvfs, value: String(s.vfs)},
    undo: {kind: 'action', action: write(numvfs, '0')},
  })
  add({
    id: id('vfs'),
    title: `${s.name}: re-read sriov_numvfs (the driver may enable fewer than ${s.vfs}) and record the VFs`,
    action: {kind: 'file', path: recordPath(opts.runDir, s, 'vfs'), content: token('sriov-vfs', ...P, s.vfs), mode: 0o600},
    undo: {kind: 'action', action: {kind: 'remove', path: recordPath(opts.runDir, s, 'vfs')}},
    ref: 'labs-reference.md §4.1 ("%d VFs requested; only %d enabled")',
  })
  if (s.eswitchMode === 'switchdev') {
    add({
      id: id('eswitch'),
      title: `${s.name}: eswitch of ${name} to switchdev (VF representors appear)`,
      action: exec(['devlink', 'dev', 'eswitch', 'set', `pci/${pfBdf}`, 'mode', 'switchdev']),
      check: {kind: 'exec-stdout', argv: ['devlink', '-j', 'dev', 'eswitch', 'show', `pci/${pfBdf}`], pattern: '"mode":\\s*"switchdev"'},
      undo: {kind: 'action', action: exec(['devlink', 'dev', 'eswitch', 'set', `pci/${pfBdf}`, 'mode', 'legacy'])},
      ref: 'labs-reference.md §5.5 step 4',
    })
  }

  for (const vf of vfsOf(model, s)) {
    const i = vf.index
    const rec = recordPath(opts.runDir, s, `vf${i}`)
    const V = `${D}/virtfn${i}`
    const vfPci = token('vf-pci', ...P, i)
    add({
      id: id('vf', i, 'record'),
      title: `${s.name}: record VF ${i}'s driver and settings (ip -j link show ${isBdf(s.pf) ? 'the PF' : name})`,
      action: {kind: 'file', path: rec, content: token('vf-state', ...P, i), mode: 0o600},
      undo: {kind: 'action', action: {kind: 'remove', path: rec}},
    })
    // VF settings are changed while no VF driver holds the VF (VF drivers read the admin MAC at
    // probe) and restored before the original driver takes it back.
    const linkStep = () => {
      const link = vfLinkArgs(vf, rec)
      if (link.set.length === 0) return
      add({
        id: id('vf', i, 'link'),
        title: `${s.name}: VF ${i} ${link.set.join(' ')}`,
        action: exec(['ip', 'link', 'set', 'dev', pfNetdev, 'vf', String(i), ...link.set]),
        undo: {kind: 'action', action: exec(['ip', 'link', 'set', 'dev', pfNetdev, 'vf', String(i), ...link.restore])},
        ref: 'labs-reference.md §4.2 step 4 (ip-link(8))',
      })
    }
    if (vf.driver === 'vfio-pci') {
      const onVfio: Check = {kind: 'file-exists', path: `/sys/bus/pci/drivers/vfio-pci/${vfPci}`}
      add({
        id: id('vf', i, 'unbind'),
        title: `${s.name}: unbind VF ${i} from its current driver`,
        action: write(`${V}/driver/unbind`, vfPci),
        check: {kind: 'any', checks: [{kind: 'not', check: {kind: 'file-exists', path: `${V}/driver`}}, onVfio]},
        undo: {kind: 'action', action: write(`/sys/bus/pci/drivers/${token('saved', rec, 'driver')}/bind`, vfPci)},
      })
      linkStep()
      add({
        id: id('vf', i, 'override'),
        title: `${s.name}: VF ${i} driver_override = vfio-pci`,
        action: write(`${V}/driver_override`, 'vfio-pci'),
        check: {kind: 'file-equals', path: `${V}/driver_override`, value: 'vfio-pci'},
        undo: {kind: 'action', action: write(`${V}/driver_override`, token('saved', rec, 'driver_override'))},
      })
      add({
        id: id('vf', i, 'bind'),
        title: `${s.name}: bind VF ${i} to vfio-pci (drivers_probe)`,
        action: write('/sys/bus/pci/drivers_probe', vfPci),
        check: onVfio,
        // Through the VF's driver link, not vfio-pci's unbind: libvirt (managed='yes') may already have
        // handed the VF back to its host driver when the guest stopped.
        undo: {kind: 'action', action: write(`${V}/driver/unbind`, vfPci)},
      })
      add({
        id: id('vf', i, 'vfio'),
        title: `${s.name}: VF ${i} is bound to vfio-pci`,
        action: {kind: 'wait', what: `VF ${i} of ${name} bound to vfio-pci (the vfio-pci module must be loaded)`, until: onVfio, timeoutMs: WAIT_BIND_MS, intervalMs: 200},
        undo: {kind: 'none'},
      })
      add({
        id: id('vf', i, 'iommu'),
        title: `${s.name}: VF ${i}'s IOMMU group is viable (every device on vfio-pci or unbound)`,
        action: {kind: 'file', path: recordPath(opts.runDir, s, `vf${i}.iommu`), content: token('vf-iommu', ...P, i), mode: 0o600},
        undo: {kind: 'action', action: {kind: 'remove', path: recordPath(opts.runDir, s, `vf${i}.iommu`)}},
        ref: 'labs-reference.md §1 (IOMMU, VFIO)',
      })
    } else {
      linkStep()
      add({
        id: id('vf', i, 'host-driver'),
        title: `${s.name}: let VF ${i}'s host driver take it (drivers_probe)`,
        action: write('/sys/bus/pci/drivers_probe', vfPci),
        check: {kind: 'file-exists', path: `${V}/driver`},
        undo: {kind: 'action', action: write(`${V}/driver/unbind`, vfPci)},
      })
    }
    if (vf.switch !== undefined) {
      const dev = s.eswitchMode === 'switchdev' ? token('vf-rep', ...P, i) : token('vf-netdev', ...P, i)
      const what = s.eswitchMode === 'switchdev' ? 'representor' : 'netdev'
      add({
        id: id('vf', i, 'up'),
        title: `${s.name}: VF ${i}'s ${what} up`,
        action: exec(['ip', 'link', 'set', 'dev', dev, 'up']),
        undo: {kind: 'action', action: exec(['ip', 'link', 'set', 'dev', dev, 'down'])},
        ref: 'labs-reference.md §5.5 step 6',
      })
      const ovs = opts.ovs?.(vf.switch) ?? {dbArgs: [], bridgeStepId: undefined}
      add({
        id: id('vf', i, 'port'),
        phase: 'switch',
        title: `${s.name}: VF ${i}'s ${what} as a port of OVS bridge ${vf.switch}`,
        action: exec(['ovs-vsctl', ...ovs.dbArgs, '--may-exist', 'add-port', vf.switch, dev, '--', 'set', 'Port', dev, `external-ids:virtlab-lab=${model.name}`]),
        undo: {kind: 'action', action: exec(['ovs-vsctl', ...ovs.dbArgs, '--if-exists', 'del-port', vf.switch, dev])},
        dependsOn: [...prev, ...(ovs.bridgeStepId === undefined ? [] : [ovs.bridgeStepId])],
        ref: 'labs-reference.md §5.5 step 7',
      })
    }
  }
  return steps
}

/**
 * The steps that provision every SR-IOV PF of a lab (phase 'devices'; a VF's OVS port is phase
 * 'switch'). Steps of one PF form a chain; PFs are independent of each other.
 */
export function sriovSteps(model: LabModel, opts: DeviceStepOptions): Step[] {
  if (opts.runDir.includes(':')) throw new VirtlabError('RUN_DIR_INVALID', `internal: run directory ${opts.runDir} must not contain ":"`)
  validate(model)
  const pfs = new Set<string>()
  for (const s of model.sriov) {
    const key = isBdf(s.pf) ? s.pf.toLowerCase() : s.pf
    if (pfs.has(key)) throw new VirtlabError('LAB_SRIOV_DUPLICATE_PF', `sriov: PF ${s.pf} appears twice`, {hint: 'Configure all VFs of a PF in one sriov entry.'})
    pfs.add(key)
  }
  return model.sriov.flatMap((s) => pfSteps(model, s, opts, opts.dependsOn ?? []))
}

/** The lab netns (undefined when the lab's endpoints live in the host namespace). */
export function labNetns(model: LabModel): string | undefined {
  return model.host.isolation === 'netns' ? netnsName(model.name) : undefined
}

/** Token strings for a VF's libvirt <address type='pci' .../> (the compiler puts them in the XML). */
export function vfAddressTokens(pf: string, vf: number): {domain: string; bus: string; slot: string; function: string; bdf: string} {
  return {
    domain: token('vf-pci-domain', pf, vf),
    bus: token('vf-pci-bus', pf, vf),
    slot: token('vf-pci-slot', pf, vf),
    function: token('vf-pci-function', pf, vf),
    bdf: token('vf-pci', pf, vf),
  }
}


/**
 * vDPA provisioning as plan steps (docs/labs/vdpa.md; vdpa(8), sysfs-bus-vdpa ABI,
 * drivers/vdpa/vdpa_sim/vdpa_sim_net.c, avocado-vt utils_vdpa).
 *
 *   modules   modprobe the bus driver (vhost_vdpa / virtio_vdpa) and the device's driver
 *             (vdpa_sim_net for vdpasim_net, mlx5_vdpa or vp_vdpa for pci/<BDF> — decided at
 *             apply time from the device's vendor —, mlx5_vdpa for auxiliary/mlx5_core.sf.N, vduse)
 *   vp_vdpa   a virtio-net PCI device is handed over: unbind from virtio-pci, new_id to vp-vdpa
 *   mgmtdev   `vdpa -j mgmtdev show` lists it (the simulator's is "vdpasim_net")
 *   add       vdpa dev add name <n> mgmtdev <m> [mac ..] [max_vqp ..] [mtu ..]   (undo: vdpa dev del)
 *   bind      to the wanted bus driver (autoprobe may have picked the other one)
 *   vhost_vdpa  /dev/vhost-vdpa-N appears (@{vdpa-dev:<n>} names it for QEMU/libvirt)
 *   virtio_vdpa a host netdev appears; it moves into the lab netns and gets the address
 */
import {VirtlabError} from '../errors.js'
import type {LabModel, VdpaModel} from '../lab/model.js'
import type {Action, Argv, Check, Step} from '../plan/step.js'
import {token} from '../plan/tokens.js'
import {type DeviceStepOptions, labNetns, sriovTailStepId} from './sriov.js'
import {sysfsSegment} from './sysfs.js'

export const LABS_REF_VDPA = 'docs/labs/vdpa.md#creating-the-device'

export function vdpaRecordDir(runDir: string): string {
  return `${runDir.replace(/\/+$/, '')}/vdpa`
}

/** The module that provides a management device, or a token resolved from the PCI vendor. */
export function mgmtdevModule(mgmtdev: string): string {
  if (mgmtdev === 'vdpasim_net') return 'vdpa_sim_net'
  if (mgmtdev === 'vduse') return 'vduse'
  if (mgmtdev.startsWith('auxiliary/mlx5_core.sf.')) return 'mlx5_vdpa'
  if (mgmtdev.startsWith('pci/')) return token('vdpa-pci-module', mgmtdev.slice(4))
  throw new VirtlabError('LAB_VDPA_MGMTDEV', `vDPA management device ${mgmtdev}: virtlab does not know which driver provides it`, {hint: 'Use vdpasim_net, vduse, pci/<BDF> (mlx5 VF, vp_vdpa) or auxiliary/mlx5_core.sf.<n>, and list the module under host.modules.'})
}

function exec(argv: Argv, extra: Partial<Extract<Action, {kind: 'exec'}>> = {}): Action {
  return {kind: 'exec', argv, ...extra}
}

function write(path: string, value: string): Action {
  return {kind: 'write', path, value}
}

const exists = (path: string): Check => ({kind: 'file-exists', path})

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

function validate(model: LabModel): void {
  const names = new Set<string>()
  for (const d of model.vdpa) {
    if (names.has(d.name)) throw new VirtlabError('LAB_VDPA_DUPLICATE', `vdpa: device ${d.name} appears twice`, {hint: 'Give each vDPA device its own name.'})
    names.add(d.name)
    if (d.mgmtdev === 'vdpasim_net' && d.maxVqp !== undefined && d.maxVqp > 1) {
      throw new VirtlabError('LAB_VDPA_MAX_VQP', `vdpa ${d.name}: the vdpasim_net simulator has one queue pair; max_vqp ${d.maxVqp} is refused by the kernel`, {hint: 'Use maxVqp: 1 (or leave it out) with vdpasim_net; multiqueue needs a hardware mgmtdev.'})
    }
    if (d.driver === 'vhost_vdpa' && d.address !== undefined) {
      throw new VirtlabError('LAB_VDPA_ADDRESS', `vdpa ${d.name}: address is for driver virtio_vdpa (a host netdev); a vhost_vdpa device belongs to a guest`, {hint: 'Put the address on the VM\'s NIC, or use driver: virtio_vdpa.'})
    }
  }
  for (const vm of model.vms) {
    for (const nic of vm.nics) {
      if (nic.vdpa === undefined) continue
      const d = model.vdpa.find((x) => x.name === nic.vdpa?.device)
      if (d === undefined) throw new VirtlabError('LAB_VDPA_UNKNOWN', `vm ${vm.name} uses vDPA device ${nic.vdpa.device}, which the lab does not define`, {hint: 'Add it under vdpa:.'})
      if (d.driver !== 'vhost_vdpa') throw new VirtlabError('LAB_VDPA_DRIVER', `vm ${vm.name} uses vDPA device ${d.name}, which is bound to ${d.driver}: a guest needs vhost_vdpa`, {hint: 'Use driver: vhost_vdpa for devices given to VMs.'})
    }
  }
}

/**
 * `vdpa dev add` argv. max_vqp 1 (one queue pair, every device's default) is left out: management
 * devices whose config_attr_mask lacks MAX_VQP (vdpasim_net, vp_vdpa) refuse the attribute itself.
 */
export function vdpaAddArgv(d: VdpaModel): Argv {
  const argv = ['vdpa', 'dev', 'add', 'name', d.name, 'mgmtdev', d.mgmtdev]
  if (d.mac !== undefined) argv.push('mac', d.mac.toLowerCase())
  if (d.maxVqp !== undefined && d.maxVqp > 1) argv.push('max_vqp', String(d.maxVqp))
  if (d.mtu !== undefined) argv.push('mtu', String(d.mtu))
  return argv
}

/**
 * The steps that create every vDPA device of a lab (phase 'devices'). When the lab also has SR-IOV
 * PFs, devices on pci/ management devices wait for the PFs' provisioning (mlx5 VFs, docs/labs/vdpa.md#hardware-vdpa-mlx5-vfs-in-switchdev).
 */
export function vdpaSteps(model: LabModel, opts: DeviceStepOptions): Step[] {
  if (opts.runDir.includes(':')) throw new VirtlabError('RUN_DIR_INVALID', `internal: run directory ${opts.runDir} must not contain ":"`)
  validate(model)
  if (model.vdpa.length === 0) return []
  const steps: Step[] = []
  const root = opts.dependsOn ?? []
  const sriovTails = model.sriov.map((s) => sriovTailStepId(model, s, opts.runDir))
  const netns = labNetns(model)
  let prev = root
  const add = (step: Omit<Step, 'dependsOn' | 'phase'> & {dependsOn?: string[]}) => {
    steps.push({phase: 'devices', ref: LABS_REF_VDPA, ...step, dependsOn: step.dependsOn ?? prev})
    prev = [step.id]
  }

  add({
    id: 'vdpa:records',
    title: `directory for the state virtlab changes (${vdpaRecordDir(opts.runDir)})`,
    action: {kind: 'mkdir', path: vdpaRecordDir(opts.runDir), mode: 0o700},
    check: {kind: 'file-exists', path: vdpaRecordDir(opts.runDir)},
    undo: {kind: 'action', action: {kind: 'remove', path: vdpaRecordDir(opts.runDir), recursive: true}},
  })

  // Modules: the bus drivers the devices need, then each device's driver (deduplicated, in lab order).
  // Undo: `modprobe -r` for the software modules (kmod also removes the dependencies that became
  // unused: vdpa, vhost, vringh, ...); plain `rmmod` for a hardware vDPA driver, because the
  // dependency sweep of `modprobe -r mlx5_vdpa` would unload mlx5_core — the NIC's own driver —
  // whenever nothing else holds it.
  const modules: {id: string; module: string; title: string; afterSriov: boolean; hardware: boolean}[] = []
  // Modules the lab already loads in its host section have their own step: not twice.
  const seen = new Set<string>(model.host.modules.map((m) => m.replaceAll('-', '_')))
  const want = (module: string, title: string, afterSriov = false) => {
    if (seen.has(module.replaceAll('-', '_'))) return
    seen.add(module)
    const key = module.startsWith('@{') ? `pci:${module.slice(module.indexOf(':') + 1, -1)}` : module
    const hardware = module.startsWith('@{') || module === 'mlx5_vdpa'
    modules.push({id: `vdpa:module:${key}`, module, title, afterSriov, hardware})
  }
  for (const d of model.vdpa) want(d.driver, `load ${d.driver} (the vDPA bus driver for ${d.driver === 'vhost_vdpa' ? 'guests' : 'host netdevs'})`)
  for (const d of model.vdpa) {
    const m = mgmtdevModule(d.mgmtdev)
    want(m, `load the driver of vDPA management device ${d.mgmtdev}`, d.mgmtdev.startsWith('pci/'))
  }
  for (const m of modules) {
    add({
      id: m.id,
      title: m.title,
      action: exec(['modprobe', m.module]),
      check: exists(`/sys/module/${m.module}`),
      undo: {kind: 'action', action: exec(m.hardware ? ['rmmod', m.module] : ['modprobe', '-r', m.module])},
      dependsOn: m.afterSriov ? [...prev, ...sriovTails] : prev,
      ref: 'docs/labs/vdpa.md#kernel-modules-and-the-vdpa-bus',
    })
  }
  add({
    id: 'vdpa:bus',
    title: 'the vdpa bus is there (module vdpa)',
    action: {kind: 'wait', what: 'the vdpa bus (/sys/bus/vdpa, module vdpa)', until: {kind: 'all', checks: [exists('/sys/module/vdpa'), exists('/sys/bus/vdpa/devices')]}, timeoutMs: 5000, intervalMs: 200},
    undo: {kind: 'none'},
    ref: 'docs/labs/vdpa.md#kernel-modules-and-the-vdpa-bus (sysfs-bus-vdpa)',
  })

  for (const d of model.vdpa) {
    const n = d.name
    const id = (...parts: string[]) => ['vdpa', n, ...parts].join(':')
    const rec = `${vdpaRecordDir(opts.runDir)}/${n}`
    if (d.mgmtdev.startsWith('pci/')) {
      // vp_vdpa (docs/labs/vdpa.md#the-vp_vdpa-variant): a virtio-net device is taken from virtio-pci and given
      // to vp-vdpa with new_id. Every step is skipped for other vendors (an mlx5 VF is ready as is).
      const bdf = d.mgmtdev.slice(4).toLowerCase()
      const dev = `/sys/bus/pci/devices/${bdf}`
      const notVirtio: Check = {kind: 'not', check: {kind: 'file-equals', path: `${dev}/vendor`, value: '0x1af4'}}
      const onVpVdpa = exists(`/sys/bus/pci/drivers/vp-vdpa/${bdf}`)
      add({
        id: id('pci-record'),
        title: `${n}: record ${bdf}'s driver (virtio-net devices are handed to vp-vdpa)`,
        action: {kind: 'file', path: `${rec}.pci.json`, content: token('pci-state', bdf), mode: 0o600},
        check: notVirtio,
        undo: {kind: 'action', action: {kind: 'remove', path: `${rec}.pci.json`}},
        ref: 'docs/labs/vdpa.md#the-vp_vdpa-variant',
      })
      add({
        id: id('pci-unbind'),
        title: `${n}: unbind ${bdf} from virtio-pci`,
        action: write(`${dev}/driver/unbind`, bdf),
        check: {kind: 'any', checks: [notVirtio, {kind: 'not', check: exists(`${dev}/driver`)}, onVpVdpa]},
        undo: {kind: 'action', action: write(`/sys/bus/pci/drivers/${token('saved', `${rec}.pci.json`, 'driver')}/bind`, bdf)},
        ref: 'docs/labs/vdpa.md#the-vp_vdpa-variant',
      })
      add({
        id: id('pci-new-id'),
        title: `${n}: hand ${bdf} to vp-vdpa (new_id)`,
        action: write('/sys/bus/pci/drivers/vp-vdpa/new_id', token('pci-id', bdf)),
        check: {kind: 'any', checks: [notVirtio, onVpVdpa]},
        undo: {kind: 'actions', actions: [write('/sys/bus/pci/drivers/vp-vdpa/remove_id', token('pci-id', bdf)), write('/sys/bus/pci/drivers/vp-vdpa/unbind', bdf)]},
        ref: 'docs/labs/vdpa.md#the-vp_vdpa-variant',
      })
    }
    add({
      id: id('mgmtdev'),
      title: `${n}: management device ${d.mgmtdev} is listed by vdpa mgmtdev show`,
      action: {kind: 'wait', what: `vDPA management device ${d.mgmtdev} (vdpa -j mgmtdev show; the simulator's is vdpasim_net)`, until: {kind: 'exec-stdout', argv: ['vdpa', '-j', 'mgmtdev', 'show'], pattern: `"${escapeRegExp(d.mgmtdev)}"\\s*:`}, timeoutMs: 10_000, intervalMs: 500},
      undo: {kind: 'none'},
      ref: 'docs/labs/vdpa.md#the-vdpa-tool',
    })
    add({
      id: id('add'),
      title: `${n}: vdpa dev add on ${d.mgmtdev}`,
      action: exec(vdpaAddArgv(d)),
      check: {kind: 'exec-ok', argv: ['vdpa', 'dev', 'show', n]},
      undo: {kind: 'action', action: exec(['vdpa', 'dev', 'del', n])},
      ref: 'docs/labs/vdpa.md#creating-the-device',
    })
    const sys = `/sys/bus/vdpa/devices/${sysfsSegment('vDPA device name', n)}`
    add({
      id: id('sysfs'),
      title: `${n}: ${sys} appears`,
      action: {kind: 'wait', what: `${sys}`, until: exists(sys), timeoutMs: 5000, intervalMs: 100},
      undo: {kind: 'none'},
    })
    const bound = exists(`/sys/bus/vdpa/drivers/${d.driver}/${n}`)
    add({
      id: id('unbind'),
      title: `${n}: unbind from the driver autoprobe chose, if not ${d.driver}`,
      action: write(`${sys}/driver/unbind`, n),
      check: {kind: 'any', checks: [{kind: 'not', check: exists(`${sys}/driver`)}, bound]},
      // The device is deleted by the add step's undo; nothing to rebind.
      undo: {kind: 'none'},
      ref: 'docs/labs/vdpa.md#binding-the-bus-driver',
    })
    add({
      id: id('bind'),
      title: `${n}: bind to ${d.driver}`,
      action: write(`/sys/bus/vdpa/drivers/${d.driver}/bind`, n),
      check: bound,
      undo: {kind: 'action', action: write(`/sys/bus/vdpa/drivers/${d.driver}/unbind`, n)},
      ref: 'docs/labs/vdpa.md#binding-the-bus-driver',
    })
    if (d.driver === 'vhost_vdpa') {
      add({
        id: id('chardev'),
        title: `${n}: /dev/vhost-vdpa-N appears`,
        action: {kind: 'wait', what: `the vhost-vdpa character device of ${n}`, until: exists(token('vdpa-dev', n)), timeoutMs: 5000, intervalMs: 100},
        undo: {kind: 'none'},
        ref: 'docs/labs/vdpa.md#the-vhost-vdpa-device-node',
      })
      continue
    }
    add({
      id: id('netdev'),
      title: `${n}: its virtio_vdpa netdev appears`,
      action: {kind: 'wait', what: `the netdev of ${n} (virtio_vdpa)`, until: exists(`/sys/class/net/${token('vdpa-netdev', n)}`), timeoutMs: 5000, intervalMs: 100},
      undo: {kind: 'none'},
    })
    add({
      id: id('record'),
      title: `${n}: record its netdev name`,
      action: {kind: 'file', path: `${rec}.json`, content: token('vdpa-state', n), mode: 0o600},
      undo: {kind: 'action', action: {kind: 'remove', path: `${rec}.json`}},
    })
    const ifname = token('saved', `${rec}.json`, 'netdev')
    const ip = (...args: string[]) => (netns === undefined ? ['ip', ...args] : ['ip', '-n', netns, ...args])
    if (netns !== undefined) {
      add({
        id: id('netns'),
        title: `${n}: move its netdev into the lab namespace ${netns}`,
        action: exec(['ip', 'link', 'set', 'dev', ifname, 'netns', netns]),
        undo: {kind: 'action', action: exec(['ip', '-n', netns, 'link', 'set', 'dev', ifname, 'netns', '1'])},
      })
    }
    if (d.address !== undefined) {
      add({
        id: id('address'),
        title: `${n}: address ${d.address}`,
        action: exec(ip('addr', 'add', d.address, 'dev', ifname)),
        undo: {kind: 'action', action: exec(ip('addr', 'del', d.address, 'dev', ifname))},
      })
    }
    add({
      id: id('up'),
      title: `${n}: netdev up`,
      action: exec(ip('link', 'set', 'dev', ifname, 'up')),
      undo: {kind: 'action', action: exec(ip('link', 'set', 'dev', ifname, 'down'))},
    })
  }
  return steps
}

/**
 * vhost-vdpa pins all guest memory, so QEMU needs RLIMIT_MEMLOCK >= guest RAM (libvirt raises it
 * itself). For plain QEMU, prefix the argv with this: prlimit(1) runs QEMU with both limits set to
 * guest RAM + 1 GiB (the margin libvirt uses for VFIO); root may raise the hard limit.
 */
export function qemuMemlockPrefix(memoryMiB: number): Argv {
  const bytes = (memoryMiB + 1024) * 1024 * 1024
  return ['prlimit', `--memlock=${bytes}:${bytes}`, '--']
}

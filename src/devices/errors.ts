/**
 * Kernel errno and tool errors of device provisioning, turned into a message that says what
 * happened and how to fix it. The executor calls explainSysfsWriteError when a HostFs write
 * fails and describeToolFailure when a `vdpa`/`devlink`/`ip ... vf` command fails.
 *
 * Sources: drivers/pci/iov.c sriov_numvfs_store (EINVAL from kstrtou16, ERANGE above
 * sriov_totalvfs, ENOENT without sriov_configure, EBUSY over a non-zero count), drivers/base/bus.c
 * (bind/unbind: ENODEV, EBUSY), drivers/pci/pci-driver.c new_id (EEXIST), vdpa(8).
 */
import {VirtlabError} from '../errors.js'
import {errnoCode, type HostFs} from '../host/fs.js'
import {basename, readTrim} from './sysfs.js'

export interface DeviceErrorInfo {
  /** Stable UPPER_SNAKE code. */
  code: string
  message: string
  hint: string
}

export interface SysfsErrorContext {
  /** What was written. */
  value?: string | undefined
  /** sriov_numvfs before the write. */
  current?: string | undefined
  /** sriov_totalvfs of the PF. */
  totalvfs?: string | undefined
}

const NOT_ROOT_HINT = 'Run virtlab as root (sudo): sysfs attributes are writable by root only.'

/** The device directory a sysfs attribute path belongs to (for the message). */
function owner(path: string): string {
  const parts = path.split('/')
  parts.pop()
  if (parts.at(-1) === 'device' && parts.at(-3) === 'net') return parts.at(-2) ?? path
  return parts.at(-1) ?? path
}

/**
 * What a failed write to a device sysfs attribute means. Undefined when the path or errno is not
 * one this module knows (the caller keeps its generic message).
 */
export function describeSysfsError(path: string, errno: string | undefined, context: SysfsErrorContext = {}): DeviceErrorInfo | undefined {
  const attr = basename(path)
  const dev = owner(path)
  const value = context.value?.trim()
  if (errno === 'EACCES' || errno === 'EPERM') {
    return {code: 'HOST_NOT_ROOT', message: `writing ${path} was refused (${errno}): only root may change ${attr}`, hint: NOT_ROOT_HINT}
  }
  if (errno === 'EROFS') {
    return {code: 'SYSFS_READ_ONLY', message: `${path} is on a read-only sysfs (EROFS)`, hint: 'Run virtlab on the host itself, not in a container with /sys mounted read-only (or give the container a writable /sys: --privileged).'}
  }
  if (attr === 'sriov_numvfs') {
    switch (errno) {
      case 'EBUSY':
        return {
          code: 'SRIOV_VFS_BUSY',
          message: `${dev}: ${context.current ?? 'some'} VFs already enabled; the kernel refuses to change a non-zero VF count${value ? ` to ${value}` : ''} (EBUSY): write 0 first`,
          hint: `virtlab always writes 0 before N, so something else changed ${path} in between; check with \`cat ${path}\`, then \`echo 0 > ${path}\` and run up again.`,
        }
      case 'ERANGE':
        return {
          code: 'SRIOV_TOO_MANY_VFS',
          message: `${dev}: ${value ?? 'the requested count'} VFs is above sriov_totalvfs${context.totalvfs ? ` (at most ${context.totalvfs})` : ''} (ERANGE)`,
          hint: `Ask for at most ${context.totalvfs ?? 'sriov_totalvfs'} VFs (--set vfs=N); the maximum is set by the NIC firmware (some NICs raise it with a firmware tool, e.g. mlxconfig SRIOV_EN=1 NUM_OF_VFS=N).`,
        }
      case 'ENOENT':
        return {
          code: 'SRIOV_NOT_SUPPORTED',
          message: `${dev}: the PF driver does not support SR-IOV configuration through sysfs, or no driver is bound to the PF (ENOENT)`,
          hint: 'Bind the PF to its vendor driver (e.g. igb, ixgbe, i40e, ice, mlx5_core); check `lspci -ks <bdf>` for "Kernel driver in use". Some drivers need a module parameter instead (igb max_vfs=N).',
        }
      case 'EINVAL':
        return {code: 'SRIOV_BAD_VALUE', message: `${dev}: ${JSON.stringify(value ?? '')} is not a VF count (EINVAL)`, hint: 'Write a decimal number from 0 to sriov_totalvfs.'}
      case 'ENODEV':
        return {code: 'SRIOV_NO_DEVICE', message: `${dev}: the PF disappeared while its VFs were being configured (ENODEV)`, hint: 'Check `dmesg` for a PCI error or a driver reset, then run up again.'}
      case 'ENOMEM':
      case 'EIO':
        return {code: 'SRIOV_ENABLE_FAILED', message: `${dev}: the PF driver failed to enable ${value ?? ''} VFs (${errno})`, hint: 'See `dmesg` for the driver\'s reason (firmware, MSI-X vectors, bus numbers: enable "pci=assign-busses" or "SR-IOV" in the BIOS).'}
      default:
        return undefined
    }
  }
  if (attr === 'sriov_drivers_autoprobe' && errno === 'EINVAL') {
    return {code: 'SRIOV_BAD_VALUE', message: `${dev}: ${JSON.stringify(value ?? '')} is not a boolean for sriov_drivers_autoprobe (EINVAL)`, hint: 'Write 0 or 1.'}
  }
  if (attr === 'driver_override' && errno === 'EINVAL') {
    return {code: 'PCI_BAD_OVERRIDE', message: `${dev}: driver_override value rejected (EINVAL)`, hint: 'Write a driver name such as vfio-pci, or "\\n" to clear it.'}
  }
  if (attr === 'bind' || attr === 'unbind' || attr === 'drivers_probe' || attr === 'new_id' || attr === 'remove_id') {
    const driver = path.split('/').at(-2) ?? ''
    const bus = path.includes('/bus/vdpa/') ? 'vdpa' : 'pci'
    switch (errno) {
      case 'ENODEV':
        if (attr === 'unbind') return {code: 'DRIVER_NOT_BOUND', message: `${value ?? 'the device'} is not bound to ${driver} (ENODEV)`, hint: `Check \`readlink /sys/bus/${bus}/devices/${value ?? '<dev>'}/driver\`.`}
        if (attr === 'remove_id') return {code: 'DRIVER_NO_SUCH_ID', message: `${driver} has no dynamic id ${JSON.stringify(value ?? '')} (ENODEV)`, hint: 'Nothing to remove; the id was never added or was already removed.'}
        return {
          code: 'DRIVER_BIND_FAILED',
          message: attr === 'drivers_probe'
            ? `no ${bus} device ${value ?? ''} to probe (ENODEV)`
            : `${driver} cannot take ${value ?? 'the device'}: no such device, or the driver does not match it (ENODEV)`,
          hint: bus === 'pci'
            ? `Set /sys/bus/pci/devices/${value ?? '<bdf>'}/driver_override to ${driver} first (or add its id with new_id), and load the driver's module.`
            : `Load the ${driver} module (modprobe ${driver}) and check \`vdpa dev show\`.`,
        }
      case 'EBUSY':
        return {code: 'DRIVER_ALREADY_BOUND', message: `${value ?? 'the device'} is already bound to a driver (EBUSY)`, hint: `Unbind it first: echo ${value ?? '<dev>'} > /sys/bus/${bus}/devices/${value ?? '<dev>'}/driver/unbind`}
      case 'EEXIST':
        return {code: 'DRIVER_ID_EXISTS', message: `${driver} already matches ids ${JSON.stringify(value ?? '')} (EEXIST)`, hint: 'The driver takes such devices already: skip new_id and bind the device directly.'}
      case 'EINVAL':
        return {code: 'DRIVER_BAD_ID', message: `${driver}: ${JSON.stringify(value ?? '')} is not "vendor device" in hex (EINVAL)`, hint: 'Write e.g. "1af4 1041".'}
      default:
        return undefined
    }
  }
  return undefined
}

/**
 * For the executor: a failed HostFs write (action kind 'write') turned into a VirtlabError with
 * context read from the host (the PF's current and maximum VF counts), or undefined when the path
 * is not a device attribute this module knows.
 */
export async function explainSysfsWriteError(fs: HostFs, path: string, value: string, error: unknown): Promise<VirtlabError | undefined> {
  const errno = errnoCode(error)
  const context: SysfsErrorContext = {value}
  if (basename(path) === 'sriov_numvfs') {
    const dir = path.slice(0, path.lastIndexOf('/'))
    context.current = await readTrim(fs, `${dir}/sriov_numvfs`)
    context.totalvfs = await readTrim(fs, `${dir}/sriov_totalvfs`)
  }
  const info = describeSysfsError(path, errno, context)
  return info === undefined ? undefined : new VirtlabError(info.code, info.message, {hint: info.hint, cause: error})
}

/**
 * What a failed device tool means: `vdpa dev add/del`, `vdpa mgmtdev show`, `devlink dev eswitch`,
 * `ip link set <pf> vf N ...`, `modprobe`. Undefined for anything else.
 */
export function describeToolFailure(argv: readonly string[], stderr: string): DeviceErrorInfo | undefined {
  const tool = basename(argv[0] ?? '')
  const text = stderr.trim()
  const has = (s: string) => text.includes(s)
  const arg = (key: string) => {
    const i = argv.indexOf(key)
    return i >= 0 ? argv[i + 1] : undefined
  }
  if (tool === 'vdpa') {
    const name = arg('name') ?? argv.at(-1)
    const mgmtdev = arg('mgmtdev')
    if (has('Failed to connect to vdpa Netlink') || has('Not supported')) {
      return {code: 'VDPA_NOT_AVAILABLE', message: 'the kernel has no vDPA support loaded (vdpa netlink family missing)', hint: 'modprobe vdpa (CONFIG_VDPA); virtlab doctor lists the modules the vdpa lab needs.'}
    }
    if (argv.includes('add')) {
      if (has('File exists')) return {code: 'VDPA_NAME_EXISTS', message: `a vDPA device named ${name ?? ''} already exists`, hint: `Delete it (vdpa dev del ${name ?? '<name>'}) if it is left over, or rename the device in the lab.`}
      if (has('No such device')) {
        return {
          code: 'VDPA_MGMTDEV_NOT_FOUND',
          message: `vDPA management device ${mgmtdev ?? ''} not found`,
          hint: mgmtdev === 'vdpa_sim_net'
            ? 'The simulator\'s management device is "vdpasim_net" (vdpa_sim_net is the module name).'
            : 'List them with `vdpa mgmtdev show`; load the driver (vdpa_sim_net, mlx5_vdpa, vp_vdpa) and, for mlx5, put the PF in switchdev mode.',
        }
      }
      if (has('not supported') || has('Operation not supported')) {
        return {code: 'VDPA_ATTR_UNSUPPORTED', message: `${mgmtdev ?? 'the management device'} does not accept the attributes given (mac/mtu/max_vqp)`, hint: 'vdpasim_net accepts mac and mtu only (no max_vqp); drop the attribute or use a hardware mgmtdev.'}
      }
      if (has('Invalid argument')) return {code: 'VDPA_BAD_ATTR', message: `${mgmtdev ?? 'the management device'} rejected an attribute value (EINVAL): max_vqp above what it supports?`, hint: 'Check max_supported_vqs in `vdpa mgmtdev show`.'}
    }
    if (argv.includes('del') && has('No such device')) return {code: 'VDPA_NO_SUCH_DEVICE', message: `no vDPA device ${argv.at(-1) ?? ''}`, hint: 'It is already gone: nothing to delete.'}
    return undefined
  }
  if (tool === 'devlink') {
    if (has('Operation not supported')) return {code: 'ESWITCH_UNSUPPORTED', message: `${argv.find((a) => a.startsWith('pci/')) ?? 'the PF'} does not support eswitch mode changes`, hint: 'switchdev needs a NIC and driver with an embedded switch (mlx5_core, ice, nfp); legacy SR-IOV needs no eswitch setting.'}
    if (has('No such device')) return {code: 'ESWITCH_NO_DEVICE', message: `no devlink device ${argv.find((a) => a.startsWith('pci/')) ?? ''}`, hint: 'Use the PF\'s PCI address (devlink dev show lists them).'}
    return undefined
  }
  if (tool === 'ip' && argv.includes('vf')) {
    const pf = arg('dev') ?? argv[argv.indexOf('set') + 1]
    if (has('Operation not supported')) return {code: 'SRIOV_VF_SETTING_UNSUPPORTED', message: `${pf ?? 'the PF'}'s driver does not support this VF setting`, hint: 'Drop the setting from the lab (e.g. proto 802.1ad or min_tx_rate are driver-specific).'}
    if (has('Protocol not supported')) return {code: 'SRIOV_VF_SETTING_UNSUPPORTED', message: `${pf ?? 'the PF'}'s driver does not support VLAN protocol 802.1ad on VFs`, hint: 'Use proto 802.1Q.'}
    if (has('Invalid argument')) return {code: 'SRIOV_VF_SETTING_INVALID', message: `${pf ?? 'the PF'} rejected the VF setting (EINVAL): VF index out of range, or min_tx_rate above max_tx_rate?`, hint: 'Check `ip link show <pf>` for the VFs that exist.'}
    if (has('Cannot find device')) return {code: 'SRIOV_PF_NOT_FOUND', message: `no network interface ${pf ?? ''}`, hint: 'Check the pf in the lab.'}
    return undefined
  }
  if (tool === 'modprobe') {
    const m = argv.at(-1) ?? ''
    if (has('not found')) return {code: 'MODULE_NOT_FOUND', message: `kernel module ${m} is not available for this kernel`, hint: `Install the kernel's extra modules package (Debian: linux-image-$(uname -r) ships vdpa_sim, vhost_vdpa, vfio-pci), or build with CONFIG for ${m}.`}
    if (has('in use')) return {code: 'MODULE_IN_USE', message: `kernel module ${m} is still in use`, hint: 'Something else holds it (another lab, a device): leave it loaded.'}
    return undefined
  }
  return undefined
}

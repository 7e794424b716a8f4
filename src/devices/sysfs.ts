/**
 * Where SR-IOV and vDPA devices live in sysfs, and reading them through HostFs. Paths follow the
 * kernel's pci-iov-howto and the sysfs-bus-vdpa ABI (docs/labs/sriov.md, docs/labs/vdpa.md):
 *   a PF by netdev:   /sys/class/net/<pf>/device/{sriov_totalvfs,sriov_numvfs,virtfn<i>,...}
 *   a PF by address:  /sys/bus/pci/devices/<bdf>/...
 *   a VF:             <pf device>/virtfn<i> -> ../<vf bdf>
 *   a vDPA device:    /sys/bus/vdpa/devices/<name>/{driver,vhost-vdpa-N,virtioN/net/<if>}
 */
import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'

export const BDF_PATTERN = /^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/

export function isBdf(text: string): boolean {
  return BDF_PATTERN.test(text)
}

/**
 * One component of a sysfs path built from a lab value (a netdev, a PCI address, a vDPA device
 * name): a single safe segment, never "." or "..", never a "/" (defence in depth: validate
 * already restricts these values).
 */
export function sysfsSegment(what: string, value: string): string {
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(value) || /^\.{1,2}$/.test(value) || value.startsWith('-')) {
    throw new VirtlabError('COMPILE_UNSAFE_VALUE', `${what} ${JSON.stringify(value.slice(0, 80))} cannot be used as a sysfs path component`, {hint: 'Only models built by validate (virtlab validate <lab>) are compiled.'})
  }
  return value
}

/** The PF's device directory as virtlab writes it (through the netdev link or the PCI bus). */
export function pfDevicePath(pf: string): string {
  return isBdf(pf) ? `/sys/bus/pci/devices/${pf.toLowerCase()}` : `/sys/class/net/${sysfsSegment('SR-IOV PF', pf)}/device`
}

export function vfPath(pf: string, vf: number): string {
  if (!Number.isSafeInteger(vf) || vf < 0) throw new VirtlabError('COMPILE_UNSAFE_VALUE', `VF index ${String(vf)} is not an index`)
  return `${pfDevicePath(pf)}/virtfn${vf}`
}

export function basename(p: string): string {
  return p.replace(/\/+$/, '').split('/').pop() ?? ''
}

/** Trimmed file content, or undefined. */
export async function readTrim(fs: HostFs, path: string): Promise<string | undefined> {
  try {
    return (await fs.tryReadFile(path))?.trim()
  } catch {
    return undefined
  }
}

/** The name a driver/module/group symlink points at (its last component), or undefined. */
export async function linkName(fs: HostFs, path: string): Promise<string | undefined> {
  const target = await fs.readlink(path)
  return target === undefined ? undefined : basename(target)
}

/** Join token args back into a PF (a BDF spans three ':'-separated args). */
export function pfFromArgs(args: string[], trailing: number): string {
  return args.slice(0, args.length - trailing).join(':')
}

export interface PfLocation {
  /** As the lab wrote it. */
  pf: string
  dir: string
  bdf: string
  netdev: string | undefined
}

/** Find a PF; SRIOV_PF_NOT_FOUND with the path looked at when it is not there. */
export async function locatePf(fs: HostFs, pf: string): Promise<PfLocation> {
  const dir = pfDevicePath(pf)
  if (!isBdf(pf) && !(await fs.exists(`/sys/class/net/${sysfsSegment('SR-IOV PF', pf)}`))) {
    throw new VirtlabError('SRIOV_PF_NOT_FOUND', `no network interface ${pf} on this host (/sys/class/net/${pf} is missing)`, {
      hint: 'Name the PF by its netdev (ip -br link) or its PCI address (lspci -D | grep -i ethernet), e.g. --set pf=0000:03:00.0.',
    })
  }
  const target = await fs.readlink(dir)
  if (target === undefined && !(await fs.exists(dir))) {
    throw new VirtlabError('SRIOV_PF_NOT_FOUND', isBdf(pf)
      ? `no PCI device ${pf} on this host (${dir} is missing)`
      : `${pf} is not a PCI device (${dir} is missing: a virtual interface cannot have VFs)`, {
      hint: 'Use the physical function of an SR-IOV capable NIC (lspci -vs <bdf> shows "Single Root I/O Virtualization").',
    })
  }
  const bdf = isBdf(pf) ? pf.toLowerCase() : basename(target ?? dir)
  const netdevs = await fs.readdir(`${dir}/net`)
  return {pf, dir, bdf, netdev: isBdf(pf) ? netdevs[0] : pf}
}

export async function vfBdfOf(fs: HostFs, pf: string, vf: number): Promise<string | undefined> {
  const target = await fs.readlink(vfPath(pf, vf))
  return target === undefined ? undefined : basename(target)
}

/** The PCI driver a device is bound to (its driver symlink), or undefined. */
export function pciDriver(fs: HostFs, bdf: string): Promise<string | undefined> {
  return linkName(fs, `/sys/bus/pci/devices/${sysfsSegment('PCI address', bdf)}/driver`)
}

/** driver_override reads "(null)" when unset (sysfs_emit of a NULL string). */
export async function driverOverride(fs: HostFs, bdf: string): Promise<string | undefined> {
  const v = await readTrim(fs, `/sys/bus/pci/devices/${sysfsSegment('PCI address', bdf)}/driver_override`)
  return v === undefined || v === '' || v === '(null)' ? undefined : v
}

/**
 * PF discovery for doctor and status: what a PF is and how its SR-IOV is set, read through HostFs
 * only (no command runs).
 */
import type {HostFs} from '../host/fs.js'
import {snapshotFs} from '../host/probe-cache.js'
import {linkName, locatePf, pciDriver, readTrim} from './sysfs.js'

export interface SriovPfProbe {
  bdf: string
  netdev: string | undefined
  driver: string | undefined
  /** sriov_totalvfs; undefined when the device has no SR-IOV capability. */
  totalvfs: number | undefined
  numvfs: number | undefined
  /** sriov_drivers_autoprobe. */
  autoprobe: boolean | undefined
  /** operstate of the PF's netdev ('up', 'down', ...). */
  linkState: string | undefined
  /** -1 when the platform has no NUMA information. */
  numaNode: number | undefined
  /** undefined: no IOMMU (VFs cannot go to guests through vfio). */
  iommuGroup: string | undefined
  /** Routing-id offset of the first VF and the stride between VFs (VF i = PF + offset + i * stride). */
  offset: number | undefined
  stride: number | undefined
  /** The VFs that exist now: index, PCI address, driver. */
  vfs: {index: number; bdf: string; driver: string | undefined}[]
}

const num = (v: string | undefined) => (v === undefined || v === '' || Number.isNaN(Number(v)) ? undefined : Number(v))

/** Probe a PF by netdev name or PCI address. Throws SRIOV_PF_NOT_FOUND when it does not exist. */
export async function probeSriovPf(pf: string, target: HostFs): Promise<SriovPfProbe> {
  // A few batches instead of a read per sysfs file (a round trip each on a remote target).
  const fs = snapshotFs(target)
  const loc = await locatePf(fs, pf)
  const dir = loc.dir
  const entries = await fs.readdir(dir)
  const virtfns = entries.filter((e) => /^virtfn\d+$/.test(e)).map((e) => `${dir}/${e}`)
  const files = ['sriov_drivers_autoprobe', 'sriov_totalvfs', 'sriov_numvfs', 'numa_node', 'sriov_offset', 'sriov_stride'].map((f) => `${dir}/${f}`)
  await Promise.all([
    fs.readMany([...files, ...(loc.netdev === undefined ? [] : [`/sys/class/net/${loc.netdev}/operstate`])]),
    fs.readlinkMany([...virtfns, `${dir}/iommu_group`, `/sys/bus/pci/devices/${loc.bdf}/driver`]),
  ])
  const vfBdfs = [...(await fs.readlinkMany(virtfns)).values()].flatMap((t) => (t === undefined ? [] : [t.slice(t.lastIndexOf('/') + 1)]))
  await fs.readlinkMany(vfBdfs.map((bdf) => `/sys/bus/pci/devices/${bdf}/driver`))
  const ap = await readTrim(fs, `${dir}/sriov_drivers_autoprobe`)
  const vfs: SriovPfProbe['vfs'] = []
  for (const entry of (await fs.readdir(dir)).filter((e) => /^virtfn\d+$/.test(e))) {
    const bdf = await linkName(fs, `${dir}/${entry}`)
    if (bdf !== undefined) vfs.push({index: Number(entry.slice(6)), bdf, driver: await pciDriver(fs, bdf)})
  }
  vfs.sort((a, b) => a.index - b.index)
  return {
    bdf: loc.bdf,
    netdev: loc.netdev,
    driver: await pciDriver(fs, loc.bdf),
    totalvfs: num(await readTrim(fs, `${dir}/sriov_totalvfs`)),
    numvfs: num(await readTrim(fs, `${dir}/sriov_numvfs`)),
    autoprobe: ap === undefined ? undefined : ap === '1',
    linkState: loc.netdev === undefined ? undefined : await readTrim(fs, `/sys/class/net/${loc.netdev}/operstate`),
    numaNode: num(await readTrim(fs, `${dir}/numa_node`)),
    iommuGroup: await linkName(fs, `${dir}/iommu_group`),
    offset: num(await readTrim(fs, `${dir}/sriov_offset`)),
    stride: num(await readTrim(fs, `${dir}/sriov_stride`)),
    vfs,
  }
}

/** What the domain-XML and QEMU-argv builders share about one VM. */
import type {VmModel} from '../lab/model.js'
import type {Accel, CompileEnv, NicSite} from './context.js'

export type Backing = 'default' | 'memfd' | 'hugepages'

export interface VmSite {
  env: CompileEnv
  vm: VmModel
  vmIndex: number
  accel: Accel
  /** memoryBacking after `default` resolved (memfd when a NIC needs shared memory). */
  backing: Backing
  nics: NicSite[]
}

/**
 * The built-in guest's kernel command line. The guest's /init reads `virtlab.vm` and `virtlab.net`,
 * a semicolon-separated list of `<mac>,<address/prefix>` for the NICs that have an address.
 */
export function guestCmdline(site: VmSite): string {
  const parts = ['console=ttyS0', 'panic=-1', 'quiet', `virtlab.vm=${site.vm.name}`]
  const net = site.nics.filter((n) => n.nic.address !== undefined).map((n) => `${n.mac},${n.nic.address}`)
  if (net.length > 0) parts.push(`virtlab.net=${net.join(';')}`)
  return parts.join(' ')
}

/** 0-(n-1): the guest CPUs of a NUMA cell. */
export function guestCpus(vcpus: number): string {
  return vcpus === 1 ? '0' : `0-${vcpus - 1}`
}

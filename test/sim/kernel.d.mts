/** Types for kernel.mjs (the simulated kernel's rules, shared with the fake executables). */
export interface SimPf {
  bdf: string
  netdev?: string
  driver?: string
  vendor?: string
  device?: string
  vfDevice?: string
  totalvfs?: number
  offset?: number
  stride?: number
  numaNode?: number
  iommuGroup?: number
  switchId?: string
}
export interface SimPciDevice {
  bdf: string
  vendor: string
  device: string
  numaNode?: number
  iommuGroup?: number
}
export interface SimHostSpec {
  pfs?: SimPf[]
  pciDevices?: SimPciDevice[]
  bootModules?: string[]
  modules?: Record<string, unknown>
  driverOverrides?: Record<string, Record<string, unknown>>
  iommu?: boolean
  netns?: string[]
  ovsBridges?: string[]
}
export function buildHost(root: string, spec?: SimHostSpec): void
export function sysfsWrite(root: string, hostPath: string, value: string): boolean
export function canonical(root: string, hostPath: string): string
export function errnoError(code: string, hostPath: string, detail?: string): Error & {code: string}
export function vfBdf(pfBdf: string, offset: number, stride: number, i: number): string
export function holdVfioGroup(root: string, pid: number, group: string, comm?: string): void
export function vfioGroupHolder(root: string, group: string): string | undefined
export function moduleLoad(root: string, name: string): void
export function moduleUnload(root: string, name: string): void
export function moduleRemoveOnly(root: string, name: string): void
export function vdpaDevAdd(root: string, name: string, mgmtdev: string, attrs: Record<string, unknown>): void
export function vdpaDevDel(root: string, name: string): void
export function eswitchSet(root: string, bdf: string, mode: 'legacy' | 'switchdev'): void
/** Kernel memory of the simulated host (.sim/state.json). */
export interface SimState {
  modules: string[]
  netdevs: Record<string, {dir: string; ifindex?: number; mac: string; up: boolean; netns: string | null; addrs: string[]}>
  vf: Record<string, Record<string, unknown>[]>
  eswitch: Record<string, string>
  vdpa: Record<string, Record<string, unknown>>
  ovs: {bridges: string[]; ports: Record<string, {bridge: string; externalIds: Record<string, string>}>}
  overrides: Record<string, string>
  pciDynIds: Record<string, string[]>
  [key: string]: unknown
}
export function loadState(root: string): SimState
export function saveState(root: string, state: unknown): void
export function loadConfig(root: string): Record<string, unknown>
export const STRERROR: Record<string, string>

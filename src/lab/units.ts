/** Parsing of the lab's small value languages: memory sizes, CPU lists, MACs, IPv4 CIDRs. */

export const MIN_MEMORY_MIB = 64
export const MAX_MEMORY_MIB = 1024 * 1024

/** "512M", "1G", "1048576K", "2GiB" -> KiB, or undefined when it is not a size. */
export function memoryKiB(text: string): number | undefined {
  const match = /^([1-9][0-9]{0,7})(K|M|G)(iB)?$/.exec(text)
  if (!match) return undefined
  const n = Number(match[1])
  const unit = match[2] === 'K' ? 1 : match[2] === 'M' ? 1024 : 1024 * 1024
  return n * unit
}

/** A memory size in MiB (whole MiB only), or undefined. */
export function memoryMiB(text: string): number | undefined {
  const kib = memoryKiB(text)
  return kib === undefined || kib % 1024 !== 0 ? undefined : kib / 1024
}

export interface CpuRange {
  from: number
  to: number
  text: string
}

/** "2-3,6" -> ranges, or undefined when the syntax is wrong. */
export function cpuRanges(text: string): CpuRange[] | undefined {
  // The schema's bound (64 ranges): longer lists are not parsed at all.
  if (text.length > 639 || !/^[0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?){0,63}$/.test(text)) return undefined
  return text.split(',').map((part) => {
    const [a, b] = part.split('-')
    return {from: Number(a), to: Number(b ?? a), text: part}
  })
}

export function normalizeMac(mac: string): string {
  return mac.toLowerCase()
}

/** The first octet's least significant bit is the group (multicast) bit. */
export function isMulticastMac(mac: string): boolean {
  const first = Number.parseInt(mac.slice(0, 2), 16)
  return Number.isFinite(first) && (first & 1) === 1
}

export function isZeroMac(mac: string): boolean {
  return /^00(:00){5}$/.test(mac)
}

export interface Ipv4Cidr {
  address: number
  prefix: number
  ip: string
}

export function parseCidr(text: string): Ipv4Cidr | undefined {
  const match = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\/([0-9]{1,2})$/.exec(text)
  if (!match) return undefined
  const octets = match.slice(1, 5).map(Number)
  const prefix = Number(match[5])
  if (octets.some((o) => o > 255) || prefix > 32) return undefined
  const address = octets.reduce((acc, o) => acc * 256 + o, 0)
  return {address, prefix, ip: octets.join('.')}
}

export function networkOf(cidr: Ipv4Cidr): number {
  const size = 2 ** (32 - cidr.prefix)
  return Math.floor(cidr.address / size) * size
}

/** Is `address` inside the subnet of `subnet` (using the subnet's prefix)? */
export function sameSubnet(subnet: Ipv4Cidr, address: Ipv4Cidr): boolean {
  return networkOf(subnet) === networkOf({...address, prefix: subnet.prefix})
}

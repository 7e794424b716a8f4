/** The guest side every virtio backend shares: the virtio-net-pci device and its libvirt options. */
import type {NicSite} from '../compile/context.js'
import type {AttrValue} from '../compile/xml.js'
import {netdevId} from './backend.js'
import {assertQemuOptionValue} from '../compile/safety.js'

export interface VirtioDeviceOptions {
  /** Multiqueue: mq=on and 2N+2 MSI-X vectors (when N > 1). */
  queues: number
  /** QEMU 7.2 under TCG segfaults starting a vhost-user NIC with MSI-X: vectors=0 (docs/labs/host.md#tcg-hosts). */
  vectorsZero: boolean
  extra?: string[]
}

/** -device virtio-net-pci,netdev=n<i>,mac=...[,mq=on,vectors=2N+2][,rx_queue_size=..][,tx_queue_size=..] */
export function virtioNetDevice(site: NicSite, options: VirtioDeviceOptions): string[] {
  assertQemuOptionValue('NIC mac', site.mac)
  const parts = ['virtio-net-pci', `netdev=${netdevId(site)}`, `mac=${site.mac}`, `id=nic${site.nic.index}`]
  if (options.vectorsZero) parts.push('vectors=0')
  else if (options.queues > 1) parts.push('mq=on', `vectors=${2 * options.queues + 2}`)
  if (site.nic.rxQueueSize !== undefined) parts.push(`rx_queue_size=${site.nic.rxQueueSize}`)
  if (site.nic.txQueueSize !== undefined) parts.push(`tx_queue_size=${site.nic.txQueueSize}`)
  parts.push(...(options.extra ?? []))
  return ['-device', parts.join(',')]
}

/** libvirt <driver> attributes for queues and ring sizes (name given by the backend). */
export function driverAttrs(site: NicSite, name: string | undefined): Record<string, AttrValue> {
  return {
    name,
    queues: site.nic.queues > 1 ? site.nic.queues : undefined,
    rx_queue_size: site.nic.rxQueueSize,
    tx_queue_size: site.nic.txQueueSize,
  }
}

export function hasDriverAttrs(attrs: Record<string, AttrValue>): boolean {
  return Object.values(attrs).some((v) => v !== undefined)
}

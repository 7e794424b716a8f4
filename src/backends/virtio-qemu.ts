/**
 * virtio-qemu: the virtio-net device is emulated by QEMU in userspace and frames leave through a
 * tap (vhost off). The slow baseline. libvirt <driver name='qemu'/> forces the userspace backend
 * (docs/labs/virtio-qemu.md#the-userspace-backend, RHEL "disabling vhost-net"); QEMU -netdev tap,...,vhost=off.
 */
import type {NicBackend} from './backend.js'
import {tapHostSteps, tapInterface, tapQemuArgs} from './tap.js'

export const virtioQemu: NicBackend = {
  kind: 'virtio-qemu',
  description: 'tap + virtio-net emulated in QEMU userspace (vhost=off)',
  sharedMemory: false,
  locksMemory: false,
  prepare: () => {},
  hostSteps: (site) => tapHostSteps(site),
  domainDevices: (site) => [tapInterface(site, 'qemu')],
  domainQemuArgs: () => [],
  qemuArgs: (site) => tapQemuArgs(site, false),
}

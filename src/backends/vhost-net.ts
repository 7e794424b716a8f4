/**
 * vhost-net: a tap with the in-kernel vhost-net backend; QEMU opens /dev/vhost-net and the kernel's
 * vhost worker moves the frames (docs/labs/vhost-net.md#the-vhost-net-backend). libvirt <driver name='vhost'
 * [queues='N']/> (explicit, so a host without vhost-net fails instead of silently falling back),
 * QEMU -netdev tap,...,vhost=on.
 *
 * Degraded mode: on a host without /dev/vhost-net and with --allow-degraded, the NIC runs the
 * userspace backend over the same tap, and the lab is labelled degraded.
 */
import {VirtlabError} from '../errors.js'
import type {NicSite} from '../compile/context.js'
import type {NicBackend} from './backend.js'
import {tapHostSteps, tapInterface, tapQemuArgs} from './tap.js'

export const DEGRADED_NO_VHOST_NET = 'degraded: no vhost-net (userspace virtio backend over tap)'

/** Does this compilation run vhost-net NICs on the userspace backend? */
export function vhostNetDegraded(site: NicSite): boolean {
  return site.env.options.hostHasVhostNet === false
}

export const vhostNet: NicBackend = {
  kind: 'vhost-net',
  description: 'tap + in-kernel vhost-net backend (vhost=on)',
  sharedMemory: false,
  locksMemory: false,
  prepare(site) {
    if (!vhostNetDegraded(site)) return
    if (!site.env.options.allowDegraded) {
      throw new VirtlabError('VHOST_NET_UNAVAILABLE', `${site.vm.name} NIC ${site.nic.index} uses vhost-net, but this host has no /dev/vhost-net`, {
        hint: 'Load the vhost_net module (modprobe vhost_net), or run with --allow-degraded to use the userspace virtio backend over the same tap.',
      })
    }
    site.env.degraded.push(DEGRADED_NO_VHOST_NET)
    site.env.waived.devices.add('/dev/vhost-net')
    site.env.waived.modules.add('vhost_net')
    site.env.waived.modules.add('vhost-net')
  },
  hostSteps: (site) => tapHostSteps(site),
  domainDevices: (site) => [tapInterface(site, vhostNetDegraded(site) ? 'qemu' : 'vhost')],
  domainQemuArgs: () => [],
  qemuArgs: (site) => tapQemuArgs(site, !vhostNetDegraded(site)),
}

/**
 * vdpa: a vDPA device (made with `vdpa dev add`, bound to vhost_vdpa) gives the guest a virtio
 * data path implemented by hardware or the kernel simulator. Its /dev/vhost-vdpa-N node exists only
 * after provisioning (src/devices/vdpa.ts), so artifacts carry the token @{vdpa-dev:<name>}.
 * libvirt <interface type='vdpa'><source dev=.../>, QEMU -netdev vhost-vdpa,vhostdev=...
 * docs/labs/vdpa.md#giving-the-device-to-a-guest.
 */
import type {VdpaModel} from '../lab/model.js'
import {type NicSite, compileError} from '../compile/context.js'
import {el, xmlToken} from '../compile/xml.js'
import {token} from '../plan/tokens.js'
import {netdevId, type NicBackend} from './backend.js'
import {virtioNetDevice} from './virtio-net.js'

export function vdpaTarget(site: NicSite): VdpaModel {
  const name = site.nic.vdpa?.device
  if (name === undefined) throw compileError('VDPA_NIC_INCOMPLETE', `${site.vm.name} NIC ${site.nic.index}: backend vdpa needs vdpa: {device}`)
  const dev = site.env.lab.vdpa.find((d) => d.name === name)
  if (dev === undefined) throw compileError('VDPA_UNKNOWN_DEVICE', `${site.vm.name} NIC ${site.nic.index}: no vdpa device named ${name}`)
  return dev
}

export const vdpa: NicBackend = {
  kind: 'vdpa',
  description: 'vDPA device through vhost-vdpa (/dev/vhost-vdpa-N)',
  sharedMemory: false,
  locksMemory: true,
  prepare(site) {
    const dev = vdpaTarget(site)
    if (dev.driver !== 'vhost_vdpa') {
      throw compileError('VDPA_NOT_VHOST', `${site.vm.name} NIC ${site.nic.index}: vdpa device ${dev.name} is bound to ${dev.driver}, so the host kernel owns it`, 'Set driver: vhost_vdpa on the device to give it to a VM.')
    }
    if (dev.mgmtdev === 'vdpasim_net') {
      site.env.notes.push(`${site.vm.name} NIC ${site.nic.index}: vdpasim_net loops TX back to RX: treat throughput as a liveness check (docs/labs/vdpa.md#what-the-simulator-measures)`)
    }
  },
  guestMac: (site) => vdpaTarget(site).mac,
  hostSteps: () => [],
  domainDevices(site) {
    const dev = vdpaTarget(site)
    return [el('interface', {type: 'vdpa'},
      el('mac', {address: site.mac}),
      el('source', {dev: xmlToken(token('vdpa-dev', dev.name))}),
      el('model', {type: 'virtio'}),
      site.nic.queues > 1 && el('driver', {queues: site.nic.queues}),
    )]
  },
  domainQemuArgs: () => [],
  qemuArgs(site) {
    const dev = vdpaTarget(site)
    const netdev = ['vhost-vdpa', `id=${netdevId(site)}`, `vhostdev=${token('vdpa-dev', dev.name)}`]
    if (site.nic.queues > 1) netdev.push(`queues=${site.nic.queues}`)
    return ['-netdev', netdev.join(','), ...virtioNetDevice(site, {queues: site.nic.queues, vectorsZero: false, extra: ['page-per-vq=on']})]
  },
}

/**
 * vhost-user: the virtqueues are served by a userspace switch (OVS-DPDK) over a unix socket; guest
 * memory is shared (memfd or hugepages) so the OVS PMD thread can reach it. QEMU is the vhost-user
 * server and OVS connects as a client (dpdkvhostuserclient), so OVS can restart
 * (docs/labs/vhost-user.md#the-vhost-user-ports). qemuMode 'client' pairs with a dpdkvhostuser port
 * (OVS is the server; the socket is in OVS's run directory).
 *
 * Under TCG, QEMU 7.2 segfaults in vhost_net_start when the guest enables MSI-X on a vhost-user
 * NIC: vectors=0 (QEMU) / -global virtio-net-pci.vectors=0 (libvirt) (docs/labs/host.md#tcg-hosts).
 */
import type {Step} from '../plan/step.js'
import {type NicSite, compileError, names, nicId, paths} from '../compile/context.js'
import {step} from '../compile/steps.js'
import {el} from '../compile/xml.js'
import {instanceOf} from '../switches/index.js'
import {portStep} from '../switches/ovs.js'
import {netdevId, type NicBackend} from './backend.js'
import {driverAttrs, hasDriverAttrs, virtioNetDevice} from './virtio-net.js'

const REF = 'docs/labs/vhost-user.md#the-vhost-user-ports (dpdkvhostuserclient, options:vhost-server-path; QEMU -chardev socket,server=on)'

/** The vhost-user socket of a NIC: <runDir>/vhu/<port>.sock (QEMU server), or OVS's <rundir>/<port> (OVS server). */
export function vhostUserSocket(site: NicSite): string {
  const port = names.vhostUserPort(site)
  if (site.nic.vhostUserQemuMode === 'server') return paths.vhostUserSocket(site.env, port)
  return `${instanceOf(site.env.ovs, site.sw!).rundir}/${port}`
}

function vhuDirStep(site: NicSite): Step {
  const libvirt = site.env.options.driver === 'libvirt'
  return step({
    id: 'vhu-dir',
    title: libvirt
      ? `Create the vhost-user socket directory ${paths.vhostUserDir(site.env)} (root:libvirt-qemu 0775: libvirt's QEMU binds the sockets)`
      : `Create the vhost-user socket directory ${paths.vhostUserDir(site.env)}`,
    phase: 'host',
    action: libvirt
      ? {kind: 'mkdir', path: paths.vhostUserDir(site.env), mode: 0o775, owner: {user: 'root', group: 'libvirt-qemu'}}
      : {kind: 'mkdir', path: paths.vhostUserDir(site.env), mode: 0o755},
    undo: {kind: 'action', action: {kind: 'remove', path: paths.vhostUserDir(site.env), recursive: true}},
    dependsOn: ['rundir'],
    ref: 'docs/labs/vhost-user.md#the-vhost-user-socket (libvirt runs QEMU as libvirt-qemu: the socket directory must be writable by it)',
  })
}

export const vhostUser: NicBackend = {
  kind: 'vhost-user',
  description: 'vhost-user socket to an OVS-DPDK dpdkvhostuserclient port, shared guest memory',
  sharedMemory: true,
  locksMemory: false,
  prepare(site) {
    const sw = site.sw
    if (sw === undefined || sw.type !== 'ovs' || sw.datapath !== 'netdev') {
      throw compileError('VHOST_USER_NEEDS_OVS_DPDK', `${site.vm.name} NIC ${site.nic.index}: a vhost-user NIC must be on an OVS switch with datapath: netdev (OVS-DPDK)`, 'Set switch: to an OVS switch with datapath: netdev.')
    }
    if (site.vm.memoryBacking === 'default') {
      site.env.notes.push(`${site.vm.name}: memoryBacking default -> memfd (vhost-user needs guest memory shared with OVS)`)
    }
  },
  hostSteps(site) {
    const sw = site.sw!
    const port = names.vhostUserPort(site)
    const server = site.nic.vhostUserQemuMode === 'server'
    const settings = server
      ? ['type=dpdkvhostuserclient', `options:vhost-server-path=${vhostUserSocket(site)}`]
      : ['type=dpdkvhostuser']
    const steps: Step[] = []
    if (server) steps.push(vhuDirStep(site))
    steps.push(portStep(site.env, instanceOf(site.env.ovs, sw), sw, port, `ovs:port:${nicId(site)}`,
      `Add ${server ? 'dpdkvhostuserclient' : 'dpdkvhostuser'} port ${port} for ${site.vm.name} NIC ${site.nic.index} to OVS bridge ${sw.name}`,
      settings, server ? ['vhu-dir'] : [], REF))
    return steps
  },
  domainDevices(site) {
    const driver = driverAttrs(site, undefined)
    return [el('interface', {type: 'vhostuser'},
      el('mac', {address: site.mac}),
      el('source', {type: 'unix', path: vhostUserSocket(site), mode: site.nic.vhostUserQemuMode}),
      el('model', {type: 'virtio'}),
      hasDriverAttrs(driver) && el('driver', driver),
    )]
  },
  domainQemuArgs: (site) => (site.accel === 'tcg' ? [['-global', 'virtio-net-pci.vectors=0']] : []),
  qemuArgs(site) {
    const id = netdevId(site)
    const chardev = site.nic.vhostUserQemuMode === 'server'
      ? `socket,id=c${site.nic.index},path=${vhostUserSocket(site)},server=on,wait=off`
      : `socket,id=c${site.nic.index},path=${vhostUserSocket(site)},reconnect=1`
    const netdev = ['vhost-user', `id=${id}`, `chardev=c${site.nic.index}`]
    if (site.nic.queues > 1) netdev.push(`queues=${site.nic.queues}`)
    return [
      '-chardev', chardev,
      '-netdev', netdev.join(','),
      ...virtioNetDevice(site, {queues: site.nic.queues, vectorsZero: site.accel === 'tcg'}),
    ]
  },
}

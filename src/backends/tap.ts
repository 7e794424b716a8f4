/**
 * What the two tap backends (virtio-qemu, vhost-net) share: a tap created by virtlab in the HOST
 * namespace (libvirt's QEMU opens taps in libvirtd's namespace), brought up and attached to the
 * NIC's switch; libvirt <interface type='ethernet'> with <target dev=... managed='no'/>; QEMU
 * -netdev tap,ifname=...,script=no,downscript=no. docs/labs/vhost-net.md#the-tap-device.
 */
import type {Step} from '../plan/step.js'
import {assertArgSafe, type NicSite, names, nicId} from '../compile/context.js'
import {exec, linkUpStep, refuseExistingLink, step, undoExec} from '../compile/steps.js'
import {el, type XmlElement} from '../compile/xml.js'
import {attachTapStep} from '../switches/index.js'
import {netdevId} from './backend.js'
import {driverAttrs, virtioNetDevice} from './virtio-net.js'

const REF = 'docs/labs/vhost-net.md#the-tap-device (pre-created tap: ip tuntap add dev <tap> mode tap [multi_queue] vnet_hdr)'

export function tapStepId(site: NicSite): string {
  return `tap:${nicId(site)}`
}

export function tapHostSteps(site: NicSite): Step[] {
  const tap = names.tap(site)
  assertArgSafe('tap name', tap)
  const id = tapStepId(site)
  const add = ['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap']
  if (site.nic.queues > 1) add.push('multi_queue')
  add.push('vnet_hdr')
  const steps: Step[] = [
    step({
      id,
      title: `Create tap ${tap} for ${site.vm.name} NIC ${site.nic.index} (${site.nic.backend}) in the host namespace`,
      phase: 'switch',
      action: exec(add),
      refuseIf: refuseExistingLink(undefined, tap, `the tap of ${site.vm.name} NIC ${site.nic.index}: a link named`),
      undo: undoExec(['ip', 'link', 'del', 'dev', tap], [1]),
      dependsOn: [],
      ref: REF,
    }),
    linkUpStep({id: `${id}:up`, title: `Bring tap ${tap} up`, phase: 'switch', ifname: tap, dependsOn: [id], ref: REF}),
  ]
  if (site.sw !== undefined) steps.push(attachTapStep(site.env, site.env.ovs, site.sw, tap, `${id}:attach`, [id]))
  return steps
}

/** <interface type='ethernet'> on the pre-created tap, with the backend's <driver>. */
export function tapInterface(site: NicSite, driverName: 'qemu' | 'vhost'): XmlElement {
  return el('interface', {type: 'ethernet'},
    el('mac', {address: site.mac}),
    el('target', {dev: names.tap(site), managed: 'no'}),
    el('model', {type: 'virtio'}),
    el('driver', driverAttrs(site, driverName)),
  )
}

/** -netdev tap,id=n<i>,ifname=<tap>,script=no,downscript=no,vhost=on|off[,queues=N] + the virtio-net-pci device. */
export function tapQemuArgs(site: NicSite, vhost: boolean): string[] {
  const netdev = ['tap', `id=${netdevId(site)}`, `ifname=${names.tap(site)}`, 'script=no', 'downscript=no', `vhost=${vhost ? 'on' : 'off'}`]
  if (site.nic.queues > 1) netdev.push(`queues=${site.nic.queues}`)
  return ['-netdev', netdev.join(','), ...virtioNetDevice(site, {queues: site.nic.queues, vectorsZero: false})]
}

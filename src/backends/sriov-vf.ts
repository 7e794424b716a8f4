/**
 * sriov-vf: a virtual function of an SR-IOV NIC passed to the guest with VFIO. The VF's PCI address
 * exists only once sriov_numvfs was written, so the artifacts carry late-bound tokens
 * (@{vf-pci:<pf>:<vf>}, @{vf-pci-domain|bus|slot|function:<pf>:<vf>}) that the device provisioning
 * (src/devices/sriov.ts) resolves at apply time. libvirt <interface type='hostdev' managed='yes'>
 * (MAC and VLAN set through the PF by libvirt) or plain <hostdev> (attach: hostdev); QEMU
 * -device vfio-pci,host=<BDF>. docs/labs/sriov.md#passing-a-vf-to-a-guest.
 */
import type {SriovModel, VfModel} from '../lab/model.js'
import type {NicSite} from '../compile/context.js'
import {compileError} from '../compile/context.js'
import {el, type XmlElement, xmlToken} from '../compile/xml.js'
import {token} from '../plan/tokens.js'
import type {NicBackend} from './backend.js'

export function sriovTarget(site: NicSite): {pf: SriovModel; vf: VfModel | undefined; index: number} {
  const ref = site.nic.sriov
  if (ref === undefined) throw compileError('SRIOV_NIC_INCOMPLETE', `${site.vm.name} NIC ${site.nic.index}: backend sriov-vf needs sriov: {pf, vf}`)
  const pf = site.env.lab.sriov.find((p) => p.name === ref.pf)
  if (pf === undefined) throw compileError('SRIOV_UNKNOWN_PF', `${site.vm.name} NIC ${site.nic.index}: no sriov entry named ${ref.pf}`)
  if (ref.vf >= pf.vfs) throw compileError('SRIOV_VF_OUT_OF_RANGE', `${site.vm.name} NIC ${site.nic.index}: VF ${ref.vf} of ${pf.name}, which has ${pf.vfs} VF(s)`)
  return {pf, vf: pf.vf.find((v) => v.index === ref.vf), index: ref.vf}
}

/** The VF's PCI address (tokens name the PF itself: netdev or PCI address); <hostdev><source> takes it without type= (libvirt's schema refuses it there). */
function pciAddress(pf: string, vf: number, typed: boolean): XmlElement {
  return el('address', {
    type: typed ? 'pci' : undefined,
    domain: xmlToken(token('vf-pci-domain', pf, vf)),
    bus: xmlToken(token('vf-pci-bus', pf, vf)),
    slot: xmlToken(token('vf-pci-slot', pf, vf)),
    function: xmlToken(token('vf-pci-function', pf, vf)),
  })
}

export const sriovVf: NicBackend = {
  kind: 'sriov-vf',
  description: 'SR-IOV virtual function passed through with VFIO',
  sharedMemory: false,
  locksMemory: true,
  prepare(site) {
    const {pf, vf, index} = sriovTarget(site)
    if (vf?.driver === 'host') {
      throw compileError('SRIOV_VF_HOST_DRIVER', `${site.vm.name} NIC ${site.nic.index}: VF ${index} of ${pf.name} is configured with driver: host, so it cannot be passed to a guest`, 'Set driver: vfio-pci on that VF (the default).')
    }
    const viaLibvirtInterface = site.env.options.driver === 'libvirt' && site.nic.sriov?.attach !== 'hostdev'
    if (vf?.mac === undefined && !viaLibvirtInterface) {
      site.env.notes.push(`${site.vm.name} NIC ${site.nic.index}: VF ${index} of ${pf.name} has no mac in the sriov section; the guest sees whatever MAC the PF gives the VF`)
    }
  },
  guestMac: (site) => sriovTarget(site).vf?.mac,
  hostSteps: () => [],
  domainDevices(site) {
    const {pf, vf, index} = sriovTarget(site)
    if (site.nic.sriov?.attach === 'hostdev') {
      return [el('hostdev', {mode: 'subsystem', type: 'pci', managed: 'yes'},
        el('driver', {name: 'vfio'}),
        el('source', {}, pciAddress(pf.pf, index, false)),
      )]
    }
    return [el('interface', {type: 'hostdev', managed: 'yes'},
      el('mac', {address: site.mac}),
      el('driver', {name: 'vfio'}),
      el('source', {}, pciAddress(pf.pf, index, true)),
      vf?.vlan !== undefined && el('vlan', {}, el('tag', {id: vf.vlan.id})),
    )]
  },
  domainQemuArgs: () => [],
  qemuArgs(site) {
    const {pf, index} = sriovTarget(site)
    return ['-device', `vfio-pci,host=${token('vf-pci', pf.pf, index)},id=nic${site.nic.index}`]
  },
}

/**
 * The host links a lab creates, by name, with the plan step that creates each (the journal says
 * which of them this lab created). Pure: from the model alone, for `doctor <lab>`; the plan itself
 * refuses the same names before any step runs (Step.refuseIf, src/compile/steps.ts).
 */
import type {LabModel} from '../lab/model.js'
import {hostVethName, tapName} from './ids.js'

export interface LabLink {
  name: string
  /** The plan steps that create it (any one in the journal means the lab created it). */
  stepIds: string[]
  what: string
}

export function labLinks(model: LabModel): LabLink[] {
  const links: LabLink[] = []
  model.switches.forEach((sw, index) => {
    if (sw.type === 'linux-bridge') {
      links.push({name: sw.name, stepIds: [`bridge:${sw.name}`], what: `switch ${sw.name} (Linux bridge)`})
      if (sw.address !== undefined && model.host.isolation === 'netns') links.push({name: hostVethName(model.name, index), stepIds: [`bridge:${sw.name}:veth`], what: `the veth of switch ${sw.name}`})
    } else {
      links.push({name: sw.name, stepIds: [`ovs:bridge:${sw.name}`, `ovs:bridge:${sw.name}:link`], what: `switch ${sw.name} (OVS bridge)`})
    }
  })
  model.vms.forEach((vm, vmIndex) => {
    for (const nic of vm.nics) {
      if (nic.backend === 'virtio-qemu' || nic.backend === 'vhost-net') links.push({name: tapName(model.name, vmIndex, nic.index), stepIds: [`tap:${vm.name}:${nic.index}`], what: `the tap of ${vm.name} NIC ${nic.index}`})
    }
  })
  return links
}

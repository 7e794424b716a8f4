/**
 * The identifiers a lab derives (src/compile/ids.ts) that must be unique on a host: its tag (in
 * every tap, vhost-user port and veth name) and its NICs' MACs. `up` compares them with the labs
 * already up (their journals) and refuses a collision, naming the other lab and the fix.
 */
import {hostVethName, labTag, tapName, vhostUserPortName} from '../compile/ids.js'
import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import type {LabModel} from '../lab/model.js'
import {type LabIdentifiers, readJournal} from './journal.js'

/** Every link name virtlab may derive for the lab, and its NICs' MACs. */
export function labIdentifiers(model: Pick<LabModel, 'name'> & Partial<Pick<LabModel, 'vms' | 'switches'>>): LabIdentifiers {
  const links = new Set<string>()
  const macs = new Set<string>()
  for (const [vmIndex, vm] of (model.vms ?? []).entries()) {
    for (const nic of vm.nics) {
      links.add(nic.backend === 'vhost-user' ? vhostUserPortName(model.name, vmIndex, nic.index) : tapName(model.name, vmIndex, nic.index))
      macs.add(nic.mac.toLowerCase())
    }
  }
  for (const index of (model.switches ?? []).keys()) links.add(hostVethName(model.name, index))
  return {tag: labTag(model.name), links: [...links].sort(), macs: [...macs].sort()}
}

/** Refuse to bring up a lab whose tag, link names or MACs collide with a lab already up on the host. */
export async function assertNoCollision(fs: HostFs, stateDir: string, runBase: string, ids: LabIdentifiers, lab: string): Promise<void> {
  for (const other of await fs.readdir(stateDir)) {
    if (other === lab || !/^[a-z0-9][a-z0-9-]*$/.test(other)) continue
    const read = await readJournal(fs, stateDir, other, {runBase})
    if (read.state !== 'ok') continue
    const theirs = read.journal.identifiers
    const tag = theirs?.tag ?? labTag(other)
    const clash: string[] = []
    if (tag === ids.tag) clash.push(`the lab tag ${tag} (its tap, vhost-user and veth names)`)
    const links = new Set(theirs?.links ?? [])
    const sameLinks = ids.links.filter((l) => links.has(l))
    if (sameLinks.length > 0 && tag !== ids.tag) clash.push(`link ${sameLinks.join(', ')}`)
    const macs = new Set(theirs?.macs ?? [])
    const sameMacs = ids.macs.filter((m) => macs.has(m))
    if (sameMacs.length > 0) clash.push(`MAC ${sameMacs.join(', ')}`)
    if (clash.length > 0) {
      throw new VirtlabError('LAB_ID_COLLISION', `lab ${lab} would reuse identifiers of lab ${other}, which is up: ${clash.join('; ')}`, {
        hint: sameMacs.length > 0 && clash.length === 1
          ? `Give the NICs explicit mac: values in lab ${lab}, or \`virtlab down ${other}\` first.`
          : `Rename lab ${lab} (its tag is derived from its name), or \`virtlab down ${other}\` first.`,
        details: {other, clash},
      })
    }
  }
}

/**
 * What `virtlab test` needs to know about a RUNNING lab, read from its journal (written by `up`,
 * src/apply/journal.ts) and its model: where each test endpoint is, how to reach a guest's agent,
 * where QEMU's pidfile is, which OVS ports carry the lab. Pure functions over the journal header
 * and the lab model; the small reader below is the one place that touches the journal format.
 */
import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import {type JournalHeader, journalCorruptError, readJournal} from '../apply/journal.js'
import {domainName, vhostUserPortName} from '../compile/ids.js'
import type {LabModel, TestModel} from '../lab/model.js'

/** The parts of the journal header measurement uses. */
export type RunningLab = Pick<JournalHeader, 'lab' | 'file' | 'driver' | 'netns' | 'runDir' | 'params' | 'degraded'>

export async function readRunningLab(fs: HostFs, stateDir: string, lab: string): Promise<RunningLab> {
  const read = await readJournal(fs, stateDir, lab)
  if (read.state === 'absent') {
    throw new VirtlabError('LAB_NOT_UP', `lab ${lab} is not up (no journal in ${stateDir}/${lab})`, {hint: `Start it first: virtlab up ${lab}`})
  }
  if (read.state === 'corrupt') {
    throw journalCorruptError(lab, read, `virtlab down ${lab} --force, then up again.`)
  }
  const j = read.journal
  return {lab: j.lab, file: j.file, driver: j.driver, netns: j.netns, runDir: j.runDir, params: j.params, degraded: j.degraded}
}

function stripPrefix(cidr: string): string {
  return cidr.split('/')[0] as string
}

/** A VM's test address: its first NIC with an address. */
export function vmAddress(model: LabModel, vm: string): string {
  const found = model.vms.find((v) => v.name === vm)
  if (found === undefined) throw new VirtlabError('TEST_BAD_ENDPOINT', `test endpoint ${vm} is not a VM of lab ${model.name}`)
  const nic = found.nics.find((n) => n.address !== undefined)
  if (nic?.address === undefined) {
    throw new VirtlabError('TEST_NO_ADDRESS', `VM ${vm} has no NIC with an address`, {hint: `Give one of ${vm}'s nics an address (e.g. 10.99.0.2/24) in the lab.`})
  }
  return stripPrefix(nic.address)
}

/**
 * The host's address towards a VM: the address of the switch the VM's addressed NIC is on (the
 * lab's host-side endpoint in its namespace carries it).
 */
export function hostAddressToward(model: LabModel, vm: string): string {
  const found = model.vms.find((v) => v.name === vm)
  if (found === undefined) throw new VirtlabError('TEST_BAD_ENDPOINT', `test endpoint ${vm} is not a VM of lab ${model.name}`)
  for (const nic of found.nics) {
    const sw = nic.switch === undefined ? undefined : model.switches.find((s) => s.name === nic.switch)
    if (sw?.address !== undefined) return stripPrefix(sw.address)
  }
  throw new VirtlabError('TEST_NO_ADDRESS', `no host-side address toward ${vm}: none of its switches has an address`, {
    hint: 'Give the switch an address (switches[].address) so the host side can reach the VM, or test VM to VM.',
  })
}

export interface EndpointPlan {
  name: string
  kind: 'host' | 'vm'
  address: string
}

/** Where the client and server of a test are. */
export function testEndpoints(model: LabModel, test: TestModel): {client: EndpointPlan; server: EndpointPlan} {
  if (test.client === test.server) throw new VirtlabError('TEST_BAD_ENDPOINT', `test ${test.name}: client and server are both ${test.client}`)
  const vmPeer = test.client === 'host' ? test.server : test.client
  if (vmPeer === 'host') throw new VirtlabError('TEST_BAD_ENDPOINT', `test ${test.name} has no VM endpoint`)
  const plan = (name: string): EndpointPlan =>
    name === 'host' ? {name, kind: 'host', address: hostAddressToward(model, vmPeer)} : {name, kind: 'vm', address: vmAddress(model, name)}
  return {client: plan(test.client), server: plan(test.server)}
}

/** The agent of a VM: libvirt domain name or the QEMU chardev socket (src/compile/context.ts paths). */
export function agentTarget(running: RunningLab, vm: string): {kind: 'libvirt'; domain: string} | {kind: 'socket'; path: string} {
  return running.driver === 'libvirt'
    ? {kind: 'libvirt', domain: domainName(running.lab, vm)}
    : {kind: 'socket', path: `${running.runDir}/${vm}.qga.sock`}
}

/** Where QEMU's pid is: virtlab's QEMU driver writes <runDir>/<vm>.pid; libvirt /run/libvirt/qemu/<domain>.pid. */
export function qemuPidfile(running: RunningLab, vm: string): string {
  return running.driver === 'libvirt' ? `/run/libvirt/qemu/${domainName(running.lab, vm)}.pid` : `${running.runDir}/${vm}.pid`
}

/** The OVS vhost-user ports of a VM (src/compile/ids.ts vhostUserPortName). */
export function vhostUserPorts(model: LabModel, vm: string): string[] {
  const index = model.vms.findIndex((v) => v.name === vm)
  if (index < 0) return []
  const found = model.vms[index]
  return (found?.nics ?? []).filter((n) => n.backend === 'vhost-user').map((n) => vhostUserPortName(model.name, index, n.index))
}

/** A private OVS instance's vswitchd control socket: <runDir>/ovs/ovs-vswitchd.<pid>.ctl. */
export function privateOvsDir(running: RunningLab): string {
  return `${running.runDir}/ovs`
}

/** The accel QEMU runs with, from its command line (/proc/<pid>/cmdline, NUL-separated). */
export function accelFromCmdline(cmdline: string): 'kvm' | 'tcg' | null {
  const args = cmdline.split('\0')
  for (const [i, arg] of args.entries()) {
    if (arg === '-accel' || arg === '--accel') {
      const value = args[i + 1] ?? ''
      if (/^(accel=)?kvm\b/.test(value)) return 'kvm'
      if (/^(accel=)?tcg\b/.test(value)) return 'tcg'
    }
    if (arg === '-enable-kvm') return 'kvm'
    if (arg === '-machine' || arg === '-M') {
      const accel = /(?:^|,)accel=(kvm|tcg)/.exec(args[i + 1] ?? '')
      if (accel) return accel[1] as 'kvm' | 'tcg'
    }
  }
  return null
}

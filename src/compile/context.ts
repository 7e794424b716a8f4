/**
 * What the compiler hands to NIC backends and switches: the lab, the options, where things live,
 * and sinks for degraded labels and notes. Backends and switches only read it (and push labels).
 */
import {VirtlabError} from '../errors.js'
import type {LabModel, NicModel, SwitchModel, VmModel} from '../lab/model.js'
import type {OvsInstance} from '../switches/ovs.js'
import type {CompileOptions} from './artifacts.js'
import {domainName, hostEndpointName, hostVethName, netnsName, tapName, vhostUserPortName} from './ids.js'

export type Accel = 'kvm' | 'tcg'

export interface CompileEnv {
  lab: LabModel
  options: CompileOptions
  runDir: string
  /** The lab's namespace (undefined when host.isolation is 'host'). */
  netns: string | undefined
  /** Degraded-path labels (deduplicated by the compiler). */
  degraded: string[]
  /** Decisions taken at compile time, for the reader. */
  notes: string[]
  /** Host requirements a degraded path does without (e.g. /dev/vhost-net, vhost_net). */
  waived: {devices: Set<string>; modules: Set<string>}
  /** The OVS instances the lab's switches use (filled before NICs are compiled). */
  ovs: Map<'system' | 'private', OvsInstance>
}

/** One NIC of one VM, with everything a backend needs to emit it. */
export interface NicSite {
  env: CompileEnv
  vm: VmModel
  vmIndex: number
  nic: NicModel
  accel: Accel
  /** The MAC the guest sees (a VF's or vDPA device's configured MAC wins over the NIC's). */
  mac: string
  /** The switch the NIC is on, if any, and its index in the lab. */
  sw: SwitchModel | undefined
  switchIndex: number
}

export const paths = {
  vhostUserDir: (env: CompileEnv) => `${env.runDir}/vhu`,
  vhostUserSocket: (env: CompileEnv, port: string) => `${env.runDir}/vhu/${port}.sock`,
  ovsDir: (env: CompileEnv) => `${env.runDir}/ovs`,
  domainXml: (env: CompileEnv, vm: string) => `${env.runDir}/${vm}.xml`,
  pidfile: (env: CompileEnv, vm: string) => `${env.runDir}/${vm}.pid`,
  qmpSocket: (env: CompileEnv, vm: string) => `${env.runDir}/${vm}.qmp.sock`,
  qgaSocket: (env: CompileEnv, vm: string) => `${env.runDir}/${vm}.qga.sock`,
  consoleLog: (env: CompileEnv, vm: string) => `${env.runDir}/${vm}.console.log`,
  overlay: (env: CompileEnv, vm: string) => `${env.runDir}/${vm}.qcow2`,
  seedIso: (env: CompileEnv, vm: string) => `${env.runDir}/${vm}-seed.iso`,
  seedDir: (env: CompileEnv, vm: string) => `${env.runDir}/${vm}-seed`,
}

export const names = {
  tap: (site: NicSite) => tapName(site.env.lab.name, site.vmIndex, site.nic.index),
  vhostUserPort: (site: NicSite) => vhostUserPortName(site.env.lab.name, site.vmIndex, site.nic.index),
  domain: (env: CompileEnv, vm: string) => domainName(env.lab.name, vm),
  netns: (lab: string) => netnsName(lab),
  hostVeth: (env: CompileEnv, switchIndex: number) => hostVethName(env.lab.name, switchIndex),
  hostEndpoint: (switchIndex: number) => hostEndpointName(switchIndex),
}

/** Step-id fragment of a NIC: '<vm>:<nic>'. */
export function nicId(site: NicSite): string {
  return `${site.vm.name}:${site.nic.index}`
}

export function compileError(code: string, message: string, hint?: string): VirtlabError {
  return new VirtlabError(code, message, {hint})
}

/**
 * Defence in depth: every name that reaches an argv must not look like an option, and every value
 * that reaches a QEMU option string must not contain the option separator. The schema already
 * restricts them; a hand-built model (tests, other front-ends) is checked here too.
 */
export function assertArgSafe(what: string, value: string, pattern = /^[A-Za-z0-9_.:/@+-]+$/): void {
  if (value.startsWith('-') || !pattern.test(value)) {
    throw new VirtlabError('COMPILE_UNSAFE_VALUE', `${what} ${JSON.stringify(value)} cannot be used in a command line`, {
      hint: 'Names may contain letters, digits, "_", ".", "-" (not first), and must match the lab schema.',
    })
  }
}

/** The doctor's output model. */
import type {HostFacts} from '../host/facts.js'
import type {KvmProbeOptions} from '../host/kvm-probe.js'

export type CheckStatus = 'pass' | 'warn' | 'fail'

export interface FixAction {
  /** Host packages (names for this host's distribution) that fix the check. */
  packages?: string[]
  /** Daemons to start: 'virtlogd', 'libvirtd', 'openvswitch'. */
  daemons?: string[]
}

export interface CheckResult {
  /** Stable id: 'root', 'kvm', 'vhost-net', 'sriov:pf0', 'module:vhost_vdpa', 'device:/dev/x'... */
  id: string
  title: string
  status: CheckStatus
  /** What was found, concretely (paths, counts, versions). */
  detail: string
  /** What to do about a warn/fail. */
  fix?: string
  fixAction?: FixAction
}

export interface RunChecksOptions {
  /** `up --allow-degraded`: a missing /dev/vhost-net is a warn (userspace backend, labelled degraded). */
  allowDegraded?: boolean
  /** The VM driver `up` will use: with 'libvirt', an unreachable and unstartable libvirt fails. */
  driver?: 'libvirt' | 'qemu'
  /** Facts already gathered (gatherFacts); probed when absent. */
  facts?: HostFacts
  /** The KVM usability probe: run (cached), cached only, or skip. Default 'run'. */
  kvmProbe?: 'run' | 'cached' | 'skip'
  /** Ignore the cached KVM probe. */
  reprobeKvm?: boolean
  /** Passed to the KVM probe (tests inject a clock). */
  kvmProbeOptions?: Omit<KvmProbeOptions, 'force' | 'cachedOnly'>
}

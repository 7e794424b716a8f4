/**
 * What compileLab produces: everything a host needs to run the lab, as data. Nothing here has
 * been applied; buildPlan (src/plan) orders it into steps with checks and undo.
 */
import type {LabModel} from '../lab/model.js'
import type {Argv, Step} from '../plan/step.js'

export type Driver = 'libvirt' | 'qemu'

export interface CompileOptions {
  /** libvirt domains, or QEMU started by virtlab. */
  driver: Driver
  /** Sockets, pidfiles, logs, XML: /run/virtlab/<lab> by default. */
  runDir: string
  /** What `accel: auto` resolves to on this host (doctor's KVM probe decides; 'tcg' when unknown). */
  autoAccel: 'kvm' | 'tcg'
  /** The built-in guest's kernel and initramfs (the image cache). */
  guest: {kernel: string; initrd: string}
  /** Run vhost-net NICs with the userspace backend when the host has no /dev/vhost-net. */
  allowDegraded: boolean
  /** Does this host have /dev/vhost-net? (undefined: assume yes, e.g. for render). */
  hostHasVhostNet: boolean | undefined
  /** What `ovs: auto` resolves to: the running system OVS, or a private instance. */
  autoOvs: 'system' | 'private'
}

export interface DomainArtifact {
  vm: string
  /** libvirt domain name (vl-<lab>-<vm>). */
  name: string
  xml: string
}

export interface QemuArtifact {
  vm: string
  /** The full argv, qemu-system-x86_64 first. */
  argv: Argv
}

export interface Artifacts {
  lab: LabModel
  options: CompileOptions
  netns: string | undefined
  /** Labels of degraded paths, e.g. "degraded: no vhost-net (userspace virtio backend)". */
  degraded: string[]
  /** Decisions the compiler took (memfd for vhost-user, derived hugepages...), for plan notes. */
  notes: string[]
  /** No libvirt <network> is ever defined: every switch is a bridge virtlab creates itself and domains attach to it directly. */
  domains: DomainArtifact[]
  qemu: QemuArtifact[]
  /** OVS commands as argv arrays (for render; the same commands appear in the steps). */
  ovsCommands: Argv[]
  /**
   * Host operations, in order: modules, hugepages, mounts, namespaces, VFs, driver binding, vDPA,
   * bridges, OVS, taps, VMs. Declarative; buildPlan adjusts them to the host's facts.
   */
  steps: Step[]
}

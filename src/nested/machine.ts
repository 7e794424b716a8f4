/**
 * The L1 machine, as a QEMU argv (pure, deterministic): q35 with kernel-irqchip=split and an
 * intel-iommu (intremap=on, caching-mode=on: VFs can be passed on to L2 guests with vfio-pci), an
 * igb NIC (SR-IOV, 7 VFs) behind a pcie-root-port whose backend is an unconnected hub port, `-cpu
 * max` under TCG (SVM with nested paging: kvm_amd loads in L1, so L2 guests run under KVM there),
 * the root, kernel tree and host share over virtio-9p read-only, and a control NIC on QEMU's user
 * network with restrict=on whose only opening is the SSH port forwarded on 127.0.0.1. No other
 * network: L1 has no route out of the machine.
 */
import {VirtlabError} from '../errors.js'
import {sha256} from '../util/hash.js'
import type {BuildManifest} from './build.js'
import type {HostPaths} from './layout.js'

export interface MachineSpec {
  name: string
  memoryMiB: number
  cpus: number
  /** The 127.0.0.1 port forwarded to L1's sshd. */
  sshPort: number
}

/** Locally administered, deterministic MACs for the control NIC and the igb PF. */
export function machineMacs(name: string): {control: string; igb: string} {
  const h = sha256(`virtlab-nested:${name}`)
  const b = (i: number): string => h.slice(i * 2, i * 2 + 2)
  return {control: `52:54:00:${b(0)}:${b(1)}:${b(2)}`, igb: `52:54:00:${b(3)}:${b(4)}:${b(5)}`}
}

/** QEMU option values are comma-separated: refuse a path that would need escaping. */
function optionPath(path: string): string {
  if (/[,\s=]/.test(path)) {
    throw new VirtlabError('NESTED_BAD_PATH', `Path not usable in a QEMU option (comma, '=' or space): ${path}`, {
      hint: 'Use a state directory whose path has no commas, spaces or equals signs.',
    })
  }
  return path
}

export function kernelCommandLine(spec: MachineSpec): string {
  const macs = machineMacs(spec.name)
  return [
    // no_timer_check: under a loaded TCG host the IO-APIC timer check can time out and panic
    // ("timer doesn't work through Interrupt-remapped IO-APIC").
    'console=ttyS0', 'quiet', 'loglevel=4', 'panic=-1', 'no_timer_check',
    'intel_iommu=on', 'iommu=pt',
    `virtlab.host=${spec.name}`, `virtlab.ctlmac=${macs.control}`,
  ].join(' ')
}

/** `resolve` maps a state path to the path QEMU opens (RootedFs.resolve). */
export function machineArgv(spec: MachineSpec, build: BuildManifest, paths: HostPaths, resolve: (p: string) => string = (p) => p): string[] {
  const macs = machineMacs(spec.name)
  const p = (path: string): string => optionPath(resolve(path))
  if (!Number.isInteger(spec.sshPort) || spec.sshPort < 1024 || spec.sshPort > 65535) throw new VirtlabError('NESTED_BAD_PORT', `Not a usable port: ${spec.sshPort}`)
  return [
    p(build.qemu.binary),
    '-name', `virtlab-${spec.name},process=virtlab-${spec.name}`,
    '-L', p(build.qemu.dataDir),
    '-M', 'q35,kernel-irqchip=split',
    '-accel', 'tcg,thread=multi,tb-size=512',
    '-cpu', 'max',
    '-smp', String(spec.cpus),
    '-m', `${spec.memoryMiB}M`,
    '-device', 'intel-iommu,intremap=on,caching-mode=on',
    '-nodefaults',
    '-display', 'none',
    '-daemonize',
    '-pidfile', p(paths.pidfile),
    '-serial', `file:${p(paths.console)}`,
    '-qmp', `unix:${p(paths.qmp)},server=on,wait=off`,
    '-kernel', p(build.kernel.vmlinuz),
    '-initrd', p(build.initrd),
    '-append', kernelCommandLine(spec),
    '-fsdev', `local,id=fsroot,path=${p(build.root.dir)},security_model=none,readonly=on,multidevs=remap`,
    '-device', 'virtio-9p-pci,fsdev=fsroot,mount_tag=root',
    '-fsdev', `local,id=fskernel,path=${p(build.kernel.dir)},security_model=none,readonly=on,multidevs=remap`,
    '-device', 'virtio-9p-pci,fsdev=fskernel,mount_tag=kernel',
    '-fsdev', `local,id=fsshare,path=${p(paths.share)},security_model=none,readonly=on`,
    '-device', 'virtio-9p-pci,fsdev=fsshare,mount_tag=share',
    '-netdev', `user,id=ctl,restrict=on,hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`,
    '-device', `virtio-net-pci,netdev=ctl,mac=${macs.control},romfile=`,
    '-device', 'pcie-root-port,id=rp0,slot=1,chassis=1',
    '-netdev', 'hubport,id=lan,hubid=0',
    '-device', `igb,netdev=lan,bus=rp0,mac=${macs.igb},romfile=`,
    '-no-reboot',
  ]
}

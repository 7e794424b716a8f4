/**
 * Presets for the doctor tests: `hostTools()` is a FakeRunner (test/helpers/fake-runner.ts) whose
 * scripted tools answer like the real ones on this host; nothing else exists on that host
 * (`commandNotFound`). Plus fixture trees and a Context over them.
 */
import {cpSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import * as path from 'node:path'

import type {Context, ProgressEvent} from '../../src/app/context.js'
import {testContext} from '../helpers/context.js'
import {RootedFs} from '../../src/host/fs.js'
import type {CommandRunner} from '../../src/host/runner.js'
import {commandNotFound, FakeRunner, timeoutError} from '../helpers/fake-runner.js'

export const QEMU_VERSION_LINE = 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)'

const DEVICE_HELP = [
  'Network devices:',
  'name "e1000", bus PCI, alias "e1000-82540em", desc "Intel Gigabit Ethernet"',
  'name "virtio-net-pci", bus PCI, alias "virtio-net"',
  'name "virtio-net-pci-non-transitional", bus PCI',
  '',
  'Misc devices:',
  'name "isa-debug-exit", bus ISA',
  'name "vfio-pci", bus PCI, desc "VFIO-based PCI device assignment"',
].join('\n')

const NETDEV_HELP = ['Available netdev backend types:', 'socket', 'stream', 'dgram', 'hubport', 'tap', 'user', 'l2tpv3', 'vde', 'bridge', 'vhost-user', 'vhost-vdpa'].join('\n')

export interface ToolOptions {
  /** Timings of the probe guests in ms; 'timeout' makes the KVM work run hit its limit. */
  kvm?: {tcgNull: number; tcgWork: number; kvmNull: number; kvmWork: number | 'timeout'}
  clock?: {now: number}
  libvirt?: 'up' | 'down'
  systemOvs?: boolean
  /** vdpa -j mgmtdev show: these names, or the netlink error of a kernel without vDPA. */
  vdpaMgmtdevs?: string[] | 'no-netlink'
}

/** The tools of a host that has everything installed, answering like the real ones here. */
export function hostTools(options: ToolOptions = {}): FakeRunner {
  const r = new FakeRunner(commandNotFound)
  r.install('kill', 'qemu-system-x86_64', 'qemu-img', 'virsh', 'libvirtd', 'virtlogd', 'ovs-vsctl', 'ovsdb-server', 'ovsdb-tool', 'ovs-appctl', 'ovs-vswitchd', 'vdpa', 'iperf3', 'busybox', 'cpio', 'xmllint', 'virt-xml-validate', 'apt-get')
  r.on(['qemu-system-x86_64', '--version'], {stdout: `${QEMU_VERSION_LINE}\nCopyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n`})
  r.on(['qemu-system-x86_64', '-device', 'help'], {stdout: DEVICE_HELP})
  r.on(['qemu-system-x86_64', '-netdev', 'help'], {stdout: NETDEV_HELP})
  const clock = options.clock ?? {now: 0}
  const kvm = options.kvm ?? {tcgNull: 60, tcgWork: 300, kvmNull: 80, kvmWork: 100}
  r.on((argv) => argv[0] === 'qemu-system-x86_64' && argv.includes('-bios'), (argv, opts) => {
    const accel = argv[argv.indexOf('-accel') + 1]
    const work = (argv[argv.indexOf('-bios') + 1] ?? '').endsWith('work.bin')
    const ms = accel === 'tcg' ? (work ? kvm.tcgWork : kvm.tcgNull) : (work ? kvm.kvmWork : kvm.kvmNull)
    if (ms === 'timeout') {
      clock.now += opts.timeoutMs ?? 0
      throw timeoutError(argv, opts.timeoutMs ?? 0)
    }
    clock.now += ms
    return {exitCode: 33}
  })
  const up = (options.libvirt ?? 'up') === 'up'
  r.on(['virsh', '-c', 'qemu:///system', 'uri'], up ? {stdout: 'qemu:///system\n'} : {exitCode: 1, stderr: "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n"})
  r.on(['virsh', '--version'], {stdout: '9.0.0\n'})
  r.on(['ovs-vsctl', '--timeout=2', 'show'], options.systemOvs ? {stdout: 'ovs_version: "3.1.0"\n'} : {exitCode: 1, stderr: 'ovs-vsctl: unix:/var/run/openvswitch/db.sock: database connection failed (No such file or directory)\n'})
  const mgmt = options.vdpaMgmtdevs ?? ['vdpasim_net']
  r.on(['vdpa', '-j', 'mgmtdev', 'show'], mgmt === 'no-netlink'
    ? {exitCode: 1, stderr: 'Failed to connect to vdpa Netlink\n'}
    : {stdout: JSON.stringify({mgmtdev: Object.fromEntries(mgmt.map((m) => [m, {supported_classes: ['net']}]))})})
  r.install('ip')
  r.on(['ip', 'link', 'show', 'dev'], (argv) => ({exitCode: 1, stderr: `Device "${argv[4] ?? ''}" does not exist.\n`}))
  r.on(['iperf3', '--version'], {stdout: 'iperf 3.12 (cJSON 1.7.15)\nLinux host 6.1.0 #1 SMP x86_64\n'})
  return r
}

/** Copy a fixture tree to a fresh temporary directory (symlinks kept as they are). */
export function copyFixture(name: 'full' | 'ours'): string {
  const dir = mkdtempSync(path.join(tmpdir(), `virtlab-host-${name}-`))
  cpSync(path.join(import.meta.dirname, '..', 'fixtures', 'hosts', name), dir, {recursive: true, verbatimSymlinks: true})
  return dir
}

export function removeTree(dir: string): void {
  rmSync(dir, {recursive: true, force: true})
}

export function makeContext(root: string, runner: CommandRunner, events: ProgressEvent[] = []): Context {
  return testContext({runner, fs: new RootedFs(root), progress: (e) => events.push(e)})
}

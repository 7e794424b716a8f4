/**
 * A scripted CommandRunner for the doctor tests: rules match an argv and answer with an exit code
 * and output (or throw like ExecaRunner does on a timeout / a missing program). Every call is
 * recorded. Later rules win over earlier ones, so a test can override one answer of a preset.
 */
import {cpSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import * as path from 'node:path'

import type {Context, ProgressEvent} from '../../src/app/context.js'
import {testContext} from '../helpers/context.js'
import {VirtlabError} from '../../src/errors.js'
import {RootedFs} from '../../src/host/fs.js'
import type {CommandRunner, RunOptions, RunResult} from '../../src/host/runner.js'

export interface Answer {exitCode?: number; stdout?: string; stderr?: string}
export type Responder = (argv: readonly string[], options: RunOptions) => Answer | Promise<Answer>
type Matcher = (argv: readonly string[]) => boolean

export class FakeRunner implements CommandRunner {
  readonly calls: {argv: string[]; options: RunOptions}[] = []
  readonly programs = new Map<string, string>()
  private readonly rules: {match: Matcher; respond: Responder}[] = []

  /** Make programs "installed" (which() finds them). */
  install(...programs: string[]): this {
    for (const p of programs) this.programs.set(p, p.includes('/') ? p : `/usr/bin/${p}`)
    return this
  }

  uninstall(...programs: string[]): this {
    for (const p of programs) this.programs.delete(p)
    return this
  }

  /** Answer commands whose argv starts with this prefix (or matches the predicate). */
  on(match: readonly string[] | Matcher, respond: Responder | Answer): this {
    const m: Matcher = typeof match === 'function' ? match : (argv) => match.every((a, i) => argv[i] === a)
    this.rules.push({match: m, respond: typeof respond === 'function' ? respond : () => respond})
    return this
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push({argv: [...argv], options})
    const [file] = argv
    if (file === undefined) throw new VirtlabError('RUNNER_EMPTY_ARGV', 'internal: empty argv')
    const rule = [...this.rules].reverse().find((r) => r.match(argv))
    if (rule === undefined || (!file.includes('/') && !this.programs.has(file) && file !== 'kill')) {
      throw new VirtlabError('COMMAND_NOT_RUN', `${file} could not start (spawn ${file} ENOENT)`, {command: {argv}})
    }
    const answer = await rule.respond(argv, options)
    const result: RunResult = {argv, exitCode: answer.exitCode ?? 0, stdout: answer.stdout ?? '', stderr: answer.stderr ?? ''}
    if (result.exitCode !== 0 && !options.allowFailure) {
      throw new VirtlabError('COMMAND_FAILED', `${file} exited with ${result.exitCode}`, {command: {argv, exitCode: result.exitCode, stderrTail: result.stderr}})
    }
    return result
  }

  async which(program: string): Promise<string | undefined> {
    return this.programs.get(program)
  }

  /** The argvs run so far, joined with spaces (for readable assertions). */
  commandLines(): string[] {
    return this.calls.map((c) => c.argv.join(' '))
  }
}

/** What ExecaRunner throws when a command hits its timeout. */
export function timeoutError(argv: readonly string[], ms: number): VirtlabError {
  return new VirtlabError('COMMAND_TIMEOUT', `${argv[0]} timed out after ${Math.round(ms / 1000)} s`, {command: {argv}})
}

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
  const r = new FakeRunner()
  r.install('qemu-system-x86_64', 'qemu-img', 'virsh', 'libvirtd', 'virtlogd', 'ovs-vsctl', 'ovsdb-server', 'ovsdb-tool', 'ovs-appctl', 'ovs-vswitchd', 'vdpa', 'iperf3', 'busybox', 'cpio', 'xmllint', 'virt-xml-validate', 'apt-get')
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

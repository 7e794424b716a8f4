/**
 * Provenance of a measurement: the host kernel and CPU, the versions of every tool on the path,
 * the accel in use, the degraded labels, the exact commands run and when. Version parsers are
 * pure; collection goes through HostFs (/proc) and the CommandRunner (`<tool> --version`). A tool
 * that is missing (or prints nothing we understand) gives null, never an error.
 */
import {isVirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import type {CommandRunner} from '../host/runner.js'

export interface ToolVersions {
  qemu: string | null
  libvirt: string | null
  ovs: string | null
  dpdk: string | null
  iperf3: string | null
}

export interface HostProvenance {
  kernel: string | null
  cpuModel: string | null
  cpuCount: number | null
}

export function parseCpuInfo(text: string): {model: string | null; count: number | null} {
  let model: string | null = null
  let count = 0
  for (const line of text.split('\n')) {
    const m = /^([^:]+?)\s*:\s*(.*)$/.exec(line)
    if (!m) continue
    if (m[1] === 'processor') count += 1
    else if (model === null && (m[1] === 'model name' || m[1] === 'Processor' || m[1] === 'cpu model')) model = (m[2] ?? '').trim() || null
  }
  return {model, count: count > 0 ? count : null}
}

/** "QEMU emulator version 7.2.22 (Debian ...)" -> "7.2.22". */
export function parseQemuVersion(text: string): string | null {
  return /QEMU emulator version (\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1] ?? null
}

/** "libvirtd (libvirt) 9.0.0" or virsh's bare "9.0.0". */
export function parseLibvirtVersion(text: string): string | null {
  return /(?:\(libvirt\)\s+)?(\d+\.\d+\.\d+)/.exec(text.trim())?.[1] ?? null
}

/** "ovs-vswitchd (Open vSwitch) 3.1.0". */
export function parseOvsVersion(text: string): string | null {
  return /\(Open vSwitch\)\s+(\d+\.\d+\.\d+\S*)/.exec(text)?.[1] ?? null
}

/** "DPDK 22.11.11" (ovs-vswitchd-dpdk --version, or `ovs-vsctl get Open_vSwitch . dpdk_version`). */
export function parseDpdkVersion(text: string): string | null {
  return /DPDK (\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1] ?? null
}

/** "iperf 3.12 (cJSON 1.7.15)" -> "3.12". */
export function parseIperf3Version(text: string): string | null {
  return /^iperf (\d+\.\d+(?:\.\d+)?)/m.exec(text)?.[1] ?? null
}

async function versionOutput(runner: CommandRunner, argv: string[]): Promise<string | null> {
  try {
    const result = await runner.run(argv, {allowFailure: true, timeoutMs: 10_000})
    return result.exitCode === 0 ? `${result.stdout}\n${result.stderr}` : null
  } catch (error) {
    if (isVirtlabError(error)) return null
    throw error
  }
}

export const DPDK_VSWITCHD = '/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk'

export async function collectToolVersions(runner: CommandRunner): Promise<ToolVersions> {
  const [qemu, libvirtd, virsh, ovs, ovsDpdk, iperf3] = await Promise.all([
    versionOutput(runner, ['qemu-system-x86_64', '--version']),
    versionOutput(runner, ['libvirtd', '--version']),
    versionOutput(runner, ['virsh', '--version']),
    versionOutput(runner, ['ovs-vswitchd', '--version']),
    versionOutput(runner, [DPDK_VSWITCHD, '--version']),
    versionOutput(runner, ['iperf3', '--version']),
  ])
  return {
    qemu: qemu === null ? null : parseQemuVersion(qemu),
    libvirt: libvirtd !== null ? parseLibvirtVersion(libvirtd) : virsh === null ? null : parseLibvirtVersion(virsh),
    ovs: ovs !== null ? parseOvsVersion(ovs) : ovsDpdk === null ? null : parseOvsVersion(ovsDpdk),
    dpdk: ovsDpdk === null ? null : parseDpdkVersion(ovsDpdk),
    iperf3: iperf3 === null ? null : parseIperf3Version(iperf3),
  }
}

export async function collectHostProvenance(fs: HostFs): Promise<HostProvenance> {
  const kernel = (await fs.tryReadFile('/proc/sys/kernel/osrelease'))?.trim() || null
  const cpuinfo = await fs.tryReadFile('/proc/cpuinfo')
  const cpu = cpuinfo === undefined ? {model: null, count: null} : parseCpuInfo(cpuinfo)
  return {kernel, cpuModel: cpu.model, cpuCount: cpu.count}
}

/** The injected clock (the edge passes `() => new Date()`; tests pass a fixed sequence). */
export type Clock = () => Date

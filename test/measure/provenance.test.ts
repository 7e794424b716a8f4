import {describe, expect, it} from 'vitest'

import {VirtlabError} from '../../src/errors.js'
import {collectToolVersions, parseCpuInfo, parseDpdkVersion, parseIperf3Version, parseLibvirtVersion, parseOvsVersion, parseQemuVersion} from '../../src/measure/provenance.js'
import {accelFromCmdline} from '../../src/measure/lab-state.js'
import {FakeRunner} from '../helpers/fake-runner.js'
import {measureFixture} from './helpers.js'

// Recorded on this machine: `<tool> --version` and /proc/cpuinfo.
describe('provenance parsers', () => {
  it('parses the recorded version outputs', () => {
    expect(parseQemuVersion(measureFixture('versions', 'qemu-system-x86_64.txt'))).toBe('7.2.22')
    expect(parseLibvirtVersion(measureFixture('versions', 'libvirtd.txt'))).toBe('9.0.0')
    expect(parseLibvirtVersion(measureFixture('versions', 'virsh.txt'))).toBe('9.0.0')
    expect(parseOvsVersion(measureFixture('versions', 'ovs-vswitchd.txt'))).toBe('3.1.0')
    expect(parseDpdkVersion(measureFixture('versions', 'ovs-vswitchd-dpdk.txt'))).toBe('22.11.11')
    expect(parseDpdkVersion(measureFixture('ovs', 'dpdk_version.txt'))).toBe('22.11.11')
    expect(parseIperf3Version(measureFixture('versions', 'iperf3.txt'))).toBe('3.12')
    expect(parseQemuVersion('qemu: command not found')).toBeNull()
  })

  it('parses /proc/cpuinfo: model and count', () => {
    expect(parseCpuInfo(measureFixture('cpuinfo.txt'))).toEqual({model: 'Intel(R) Xeon(R) Processor', count: 2})
    expect(parseCpuInfo('')).toEqual({model: null, count: null})
  })

  it('collects versions through the runner; a missing tool gives null', async () => {
    const outputs: Record<string, string> = {
      'qemu-system-x86_64': measureFixture('versions', 'qemu-system-x86_64.txt'),
      iperf3: measureFixture('versions', 'iperf3.txt'),
      virsh: measureFixture('versions', 'virsh.txt'),
    }
    const runner = new FakeRunner((argv) => {
      const out = outputs[argv[0] as string]
      if (out === undefined) throw new VirtlabError('COMMAND_NOT_RUN', `${argv[0]} could not start (ENOENT)`)
      return {argv, exitCode: 0, stdout: out, stderr: ''}
    })
    const versions = await collectToolVersions(runner)
    expect(versions).toEqual({qemu: '7.2.22', libvirt: '9.0.0', ovs: null, dpdk: null, iperf3: '3.12'})
    expect(runner.calls.map((c) => c.join(' '))).toContain('qemu-system-x86_64 --version')
  })

  it('reads the accel from a QEMU command line', () => {
    expect(accelFromCmdline(['qemu-system-x86_64', '-name', 'x', '-accel', 'tcg', '-m', '512'].join('\0'))).toBe('tcg')
    expect(accelFromCmdline(['qemu-system-x86_64', '-machine', 'pc-q35-7.2,usb=off,accel=kvm'].join('\0'))).toBe('kvm')
    expect(accelFromCmdline(['qemu-system-x86_64', '-enable-kvm'].join('\0'))).toBe('kvm')
    expect(accelFromCmdline(['qemu-system-x86_64', '-m', '512'].join('\0'))).toBeNull()
  })
})

/**
 * `virtlab test` end to end on a fake host: a journal written as `up` writes it, the shipped
 * vhost-net lab, a /proc tree with the QEMU process, a FakeRunner for the lab namespace and a fake
 * guest agent for vm1. Checks the result file (schema-valid), the commands, datapath and provenance.
 */
import * as nodefs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import type {Context, ProgressEvent} from '../../src/app/context.js'
import {defaultMeasureDeps, testLab} from '../../src/app/measure.js'
import {VirtlabError} from '../../src/errors.js'
import type {GuestAgent, GuestExecOptions, GuestExecResult, GuestExecStatus} from '../../src/guest/agent.js'
import {RootedFs} from '../../src/host/fs.js'
import {resultProblems} from '../../src/measure/result.js'
import {testContext} from '../helpers/context.js'
import {FakeRunner} from '../helpers/fake-runner.js'
import {ROOT, fixedClock, iperfFixture, measureFixture} from './helpers.js'

class FakeAgent implements GuestAgent {
  readonly execs: string[][] = []
  readonly background: string[][] = []
  private running = new Set<number>()
  private next = 100
  closed = false

  async ping(): Promise<void> {}
  async exec(p: string, args: readonly string[] = [], _options?: GuestExecOptions): Promise<GuestExecResult> {
    this.execs.push([p, ...args])
    if (p === '/bin/busybox' && args[0] === 'kill') this.running.delete(Number(args[2]))
    return {exitCode: 0, stdout: '', stderr: ''}
  }
  async execBackground(p: string, args: readonly string[] = []): Promise<number> {
    this.background.push([p, ...args])
    const pid = this.next++
    this.running.add(pid)
    return pid
  }
  async execStatus(pid: number): Promise<GuestExecStatus> {
    return this.running.has(pid) ? {exited: false} : {exited: true, exitCode: 0}
  }
  async close(): Promise<void> {
    this.closed = true
  }
}

const roots: string[] = []
afterEach(() => {
  for (const r of roots.splice(0)) nodefs.rmSync(r, {recursive: true, force: true})
})

function fakeHost(options: {vhostNetFd: boolean; journal?: boolean}) {
  const root = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vl-testlab-'))
  roots.push(root)
  const put = (p: string, content: string) => {
    nodefs.mkdirSync(path.dirname(path.join(root, p)), {recursive: true})
    nodefs.writeFileSync(path.join(root, p), content)
  }
  const link = (p: string, target: string) => {
    nodefs.mkdirSync(path.dirname(path.join(root, p)), {recursive: true})
    nodefs.symlinkSync(target, path.join(root, p))
  }
  put('/labs/vhost-net.yaml', nodefs.readFileSync(path.join(ROOT, 'labs', 'vhost-net.yaml'), 'utf8'))
  put('/pkg/package.json', '{"name": "virtlab", "version": "0.1.0"}')
  put('/proc/sys/kernel/osrelease', '6.18.44-fc-v669\n')
  put('/proc/cpuinfo', measureFixture('cpuinfo.txt'))
  put('/run/libvirt/qemu/vl-vhost-net-vm1.pid', '4242\n')
  put('/proc/4242/cmdline', ['/usr/bin/qemu-system-x86_64', '-name', 'guest=vl-vhost-net-vm1', '-accel', 'tcg', '-m', '512'].join('\0') + '\0')
  put('/proc/4242/task/4242/comm', 'qemu-system-x86\n')
  link('/proc/4242/fd/17', '/dev/net/tun')
  if (options.vhostNetFd) {
    link('/proc/4242/fd/23', '/dev/vhost-net')
    put('/proc/4242/task/4251/comm', 'vhost-4242\n')
  }
  if (options.journal ?? true) {
    put('/var/lib/virtlab/vhost-net/journal.json', JSON.stringify({
      version: 1, lab: 'vhost-net', file: '/labs/vhost-net.yaml', driver: 'libvirt', netns: 'vl-vhost-net', runDir: '/run/virtlab/vhost-net',
      params: {subnet: '10.99.2', queues: 1, memory: '512M'},
      degraded: options.vhostNetFd ? [] : ['degraded: no vhost-net (userspace virtio backend over tap)'],
      entries: [],
    }))
  }
  const runner = new FakeRunner((argv) => {
    const cmd = argv.join(' ')
    if (cmd === 'qemu-system-x86_64 --version') return {argv, exitCode: 0, stdout: measureFixture('versions', 'qemu-system-x86_64.txt'), stderr: ''}
    if (cmd === 'iperf3 --version') return {argv, exitCode: 0, stdout: measureFixture('versions', 'iperf3.txt'), stderr: ''}
    if (cmd.endsWith('--version')) throw new VirtlabError('COMMAND_NOT_RUN', `${argv[0]} could not start (ENOENT)`)
    if (cmd.startsWith('ip netns exec vl-vhost-net iperf3 -c')) return {argv, exitCode: 0, stdout: iperfFixture('tcp-tx'), stderr: ''}
    if (cmd.startsWith('ip netns exec vl-vhost-net busybox ping')) return {argv, exitCode: 0, stdout: measureFixture('ping', 'busybox-loopback-50.txt'), stderr: ''}
    return {argv, exitCode: 1, stdout: '', stderr: `unexpected: ${cmd}`}
  }).setPrograms(['busybox', 'iperf3', 'ip'])
  const events: ProgressEvent[] = []
  const ctx: Context = testContext({runner, fs: new RootedFs(root), packageRoot: '/pkg', progress: (e) => events.push(e)})
  const agent = new FakeAgent()
  const agentTargets: string[] = []
  const deps = {
    ...defaultMeasureDeps,
    watchGuests: false,
    clock: fixedClock(),
    sleep: async () => {},
    agentFor: async (_running: unknown, vm: string) => {
      agentTargets.push(vm)
      return agent
    },
  }
  return {root, ctx, runner, agent, deps, events, agentTargets}
}

describe('testLab (virtlab test) on a fake host', () => {
  it('measures the running lab and writes a schema-valid result with datapath and provenance', async () => {
    const host = fakeHost({vhostNetFd: true})
    const out = await testLab(host.ctx, {lab: 'vhost-net', trials: 2, durationS: 1, outDir: 'out'}, host.deps)
    expect(out.files).toEqual(['out/vhost-net-host-to-vm1.json'])
    const doc = JSON.parse(nodefs.readFileSync(path.join(host.root, 'out', 'vhost-net-host-to-vm1.json'), 'utf8')) as Record<string, unknown>
    expect(resultProblems(doc)).toEqual([])
    const result = out.results[0]!
    expect(result.lab).toMatchObject({name: 'vhost-net', architecture: 'vhost-net', backends: ['vhost-net'], driver: 'libvirt', params: {subnet: '10.99.2'}})
    expect(result.test).toMatchObject({name: 'host-to-vm1', client: 'host', server: 'vm1', trials: 2, durationS: 1, warmupS: 1})
    expect(result.cases[0]?.trials).toHaveLength(2)
    expect(result.datapath).toEqual({kind: 'vhost-net', verified: true, evidence: [
      'QEMU pid 4242 holds /dev/net/tun (fd 17)', 'QEMU pid 4242 holds /dev/vhost-net (fd 23)', 'vhost worker thread vhost-4242 (tid 4251)',
    ]})
    expect(result.degraded).toEqual([])
    expect(result.provenance).toMatchObject({
      virtlab: '0.1.0',
      host: {kernel: '6.18.44-fc-v669', cpuModel: 'Intel(R) Xeon(R) Processor', cpuCount: 2},
      versions: {qemu: '7.2.22', libvirt: null, ovs: null, dpdk: null, iperf3: '3.12'},
      accel: 'tcg',
    })
    // the guest runs the server (guest-exec), the lab namespace runs the client and ping
    expect(host.agentTargets).toEqual(['vm1'])
    expect(host.agent.background).toEqual([['/usr/bin/iperf3', '-s', '-p', '5201']])
    expect(host.agent.execs).toEqual([['/bin/busybox', 'kill', '-TERM', '100']])
    expect(host.agent.closed).toBe(true)
    const commands = result.provenance.commands.map((c) => `${c.endpoint}: ${c.argv.join(' ')}`)
    expect(commands).toEqual([
      'vm1: /usr/bin/iperf3 -s -p 5201',
      'host: ip netns exec vl-vhost-net iperf3 -c 10.99.2.2 -p 5201 -J -t 1 -O 1 -P 1',
      'host: ip netns exec vl-vhost-net iperf3 -c 10.99.2.2 -p 5201 -J -t 1 -O 1 -P 1',
      'host: ip netns exec vl-vhost-net busybox ping -c 100 -i 0.01 10.99.2.2',
    ])
    expect(host.events.some((e) => e.title === 'host-to-vm1: tcp-tx-default: trial 2/2')).toBe(true)
  })

  it('the degraded path: labelled, and the datapath is not verified (no /dev/vhost-net held)', async () => {
    const host = fakeHost({vhostNetFd: false})
    const out = await testLab(host.ctx, {lab: 'vhost-net', trials: 1, durationS: 1, outDir: 'out', latencyCount: 0}, host.deps)
    const result = out.results[0]!
    expect(result.degraded).toEqual(['degraded: no vhost-net (userspace virtio backend over tap)'])
    expect(result.datapath.verified).toBe(false)
    expect(result.datapath.reason).toMatch(/does not hold \/dev\/vhost-net/)
    expect(host.events.filter((e) => e.type === 'warn').map((e) => e.title)).toEqual([
      expect.stringMatching(/^datapath not verified/), 'degraded: no vhost-net (userspace virtio backend over tap)',
    ])
  })

  it('a lab that is not up: LAB_NOT_UP with the up command as hint; unknown test names are refused', async () => {
    const down = fakeHost({vhostNetFd: true, journal: false})
    await expect(testLab(down.ctx, {lab: 'vhost-net'}, down.deps)).rejects.toMatchObject({code: 'LAB_NOT_UP', hint: 'Start it first: virtlab up vhost-net'})
    const up = fakeHost({vhostNetFd: true})
    await expect(testLab(up.ctx, {lab: 'labs/vhost-net.yaml', tests: ['nope']}, up.deps)).rejects.toMatchObject({code: 'TEST_UNKNOWN'})
  })
})

describe('testLab on an OVS-DPDK lab (vhost-user, VM to VM)', () => {
  it('runs the client in vm1 and the server in vm2 over their agents, and verifies the PMD datapath around the test', async () => {
    const {vhostUserPortName} = await import('../../src/compile/ids.js')
    const root = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vl-testlab-'))
    roots.push(root)
    const put = (p: string, content: string) => {
      nodefs.mkdirSync(path.dirname(path.join(root, p)), {recursive: true})
      nodefs.writeFileSync(path.join(root, p), content)
    }
    put('/labs/vhost-user.yaml', nodefs.readFileSync(path.join(ROOT, 'labs', 'vhost-user.yaml'), 'utf8'))
    put('/var/lib/virtlab/vhost-user/journal.json', JSON.stringify({
      version: 1, lab: 'vhost-user', file: '/labs/vhost-user.yaml', driver: 'qemu', netns: 'vl-vhost-user', runDir: '/run/virtlab/vhost-user', params: {}, degraded: [], entries: [],
    }))
    put('/run/virtlab/vhost-user/ovs/ovs-vswitchd.pid', '999\n')
    put('/run/virtlab/vhost-user/ovs/ovs-vswitchd-dpdk.999.ctl', '')
    put('/run/virtlab/vhost-user/vm2.pid', '5000\n')
    put('/proc/5000/cmdline', ['qemu-system-x86_64', '-accel', 'tcg'].join('\0'))
    // the recorded appctl output, with the lab's own port names
    const ports = [vhostUserPortName('vhost-user', 0, 0), vhostUserPortName('vhost-user', 1, 0)]
    const rename = (text: string) => text.replaceAll('vl1234u0n0', ports[0]!).replaceAll('vl1234u1n0', ports[1]!)
    const ctl = '/run/virtlab/vhost-user/ovs/ovs-vswitchd-dpdk.999.ctl'
    let statsCalls = 0
    const runner = new FakeRunner((argv) => {
      const cmd = argv.join(' ')
      if (cmd === `ovs-appctl -t ${ctl} dpif-netdev/pmd-stats-show`) {
        statsCalls += 1
        return {argv, exitCode: 0, stdout: measureFixture('ovs', statsCalls === 1 ? 'pmd-stats-show-before.txt' : 'pmd-stats-show-after.txt'), stderr: ''}
      }
      if (cmd === `ovs-appctl -t ${ctl} dpif-netdev/pmd-rxq-show`) return {argv, exitCode: 0, stdout: rename(measureFixture('ovs', 'pmd-rxq-show.txt')), stderr: ''}
      throw new VirtlabError('COMMAND_NOT_RUN', `${argv[0]} could not start (ENOENT)`)
    })
    const agents = {vm1: new FakeAgent(), vm2: new FakeAgent()}
    const iperfReplies: string[][] = []
    agents.vm1.exec = async (p: string, args: readonly string[] = []) => {
      iperfReplies.push([p, ...args])
      return {exitCode: 0, stdout: p === '/usr/bin/iperf3' ? iperfFixture('tcp-tx') : measureFixture('ping', 'busybox-loopback-50.txt'), stderr: ''}
    }
    const ctx: Context = testContext({runner, fs: new RootedFs(root), packageRoot: '/pkg'})
    const out = await testLab(ctx, {lab: 'vhost-user', trials: 1, durationS: 1, outDir: '/results'}, {
      ...defaultMeasureDeps, watchGuests: false, clock: fixedClock(), sleep: async () => {},
      agentFor: async (_r, vm) => agents[vm as 'vm1' | 'vm2'],
    })
    const result = out.results[0]!
    expect(result.lab.architecture).toBe('vhost-user')
    expect(result.datapath.verified).toBe(true)
    expect(result.datapath.evidence).toContain(`port ${ports[0]} is polled by PMD core 1`)
    expect(result.datapath.evidence).toContain(`port ${ports[1]} is polled by PMD core 1`)
    expect(statsCalls).toBe(2) // before and after the measurement
    expect(agents.vm2.background).toEqual([['/usr/bin/iperf3', '-s', '-p', '5201']])
    expect(iperfReplies[0]).toEqual(['/usr/bin/iperf3', '-c', '10.99.3.3', '-p', '5201', '-J', '-t', '1', '-O', '1', '-P', '1'])
    expect(iperfReplies.at(-1)).toEqual(['/bin/busybox', 'ping', '-c', '100', '-i', '0.01', '10.99.3.3'])
    expect(result.provenance.accel).toBe('tcg')
    expect(nodefs.existsSync(path.join(root, 'results', 'vhost-user-vm1-to-vm2.json'))).toBe(true)
  })
})

import {copyFileSync, mkdirSync, writeFileSync} from 'node:fs'
import * as path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {doctor} from '../../src/app/doctor.js'
import {applyFix, detectOs, planFix, runChecks, type CheckResult} from '../../src/doctor/index.js'
import {packagesFor} from '../../src/doctor/packages.js'
import {copyFixture, hostTools, makeContext, removeTree} from './host-tools.js'

const roots: string[] = []
afterEach(() => {
  for (const r of roots.splice(0)) removeTree(r)
})

function host(name: 'full' | 'ours'): string {
  const root = copyFixture(name)
  roots.push(root)
  return root
}

const OURS = {vdpaMgmtdevs: 'no-netlink' as const, kvm: {tcgNull: 60, tcgWork: 300, kvmNull: 75, kvmWork: 'timeout' as const}}

describe('planFix', () => {
  const checks: CheckResult[] = [
    {id: 'root', title: 'root', status: 'pass', detail: 'uid 0'},
    {id: 'iperf3', title: 'iperf3', status: 'fail', detail: 'missing', fix: 'apt-get install iperf3', fixAction: {packages: ['iperf3']}},
    {id: 'guest-tools', title: 'guest', status: 'fail', detail: 'missing', fix: '...', fixAction: {packages: ['busybox-static', 'cpio']}},
    {id: 'dpdk-mempool-ring', title: 'ring', status: 'fail', detail: 'missing', fix: '...', fixAction: {packages: ['librte-mempool-ring23', 'iperf3']}},
    {id: 'libvirt', title: 'libvirt', status: 'warn', detail: 'not running', fix: 'start', fixAction: {daemons: ['virtlogd', 'libvirtd']}},
    {id: 'vhost-net', title: 'vhost-net', status: 'fail', detail: 'missing', fix: 'modprobe vhost_net'},
  ]

  it('collects packages once, daemons, the commands in order, and what is left for a human', async () => {
    const os = await detectOs(makeContext(host('ours'), hostTools()).target.fs)
    const plan = planFix(checks, os)
    expect(plan.packages).toEqual(['iperf3', 'busybox-static', 'cpio', 'librte-mempool-ring23'])
    expect(plan.daemons).toEqual(['libvirtd'])
    expect(plan.commands).toEqual([
      ['apt-get', 'update'],
      ['apt-get', 'install', '-y', '--no-install-recommends', 'iperf3', 'busybox-static', 'cpio', 'librte-mempool-ring23'],
      ['virtlogd', '-d'],
      ['libvirtd', '-d'],
    ])
    expect(plan.manual).toEqual([{id: 'vhost-net', status: 'fail', fix: 'modprobe vhost_net'}])
    expect(plan.unsupported).toBe(false)
  })

  it('uses dnf and Fedora package names on Fedora', async () => {
    const root = host('full')
    writeFileSync(path.join(root, 'etc/os-release'), 'NAME="Fedora Linux"\nVERSION_ID=41\nID=fedora\nPRETTY_NAME="Fedora Linux 41 (Server Edition)"\n')
    const runner = hostTools()
    runner.uninstall('iperf3', 'busybox', 'qemu-system-x86_64', 'virsh', 'libvirtd', 'virtlogd')
    const ctx = makeContext(root, runner)
    const os = await detectOs(ctx.target.fs)
    expect(os).toMatchObject({family: 'fedora', packageManager: 'dnf'})
    const results = await runChecks(undefined, ctx, {kvmProbe: 'cached'})
    const plan = planFix(results, os)
    expect(plan.commands[0]).toEqual(['dnf', 'install', '-y', 'qemu-system-x86-core', 'qemu-img', 'libvirt-daemon-kvm', 'libvirt-client', 'libvirt-daemon-driver-qemu', 'iperf3', 'busybox'])
  })

  it('says so when the host has no supported package manager', async () => {
    const root = host('ours')
    writeFileSync(path.join(root, 'etc/os-release'), 'ID=alpine\nVERSION_ID=3.20\n')
    const os = await detectOs(makeContext(root, hostTools()).target.fs)
    const plan = planFix(checks, os)
    // The checks carried Debian names; on an unknown distribution nothing can be installed automatically.
    expect(os.packageManager).toBeUndefined()
    expect(plan.unsupported).toBe(true)
    expect(plan.commands).toEqual([['virtlogd', '-d'], ['libvirtd', '-d']])
    expect(packagesFor(os, ['iperf3'])).toEqual([])
  })

  it('picks the mempool ring package for the installed DPDK ABI', async () => {
    const root = host('ours')
    for (const f of ['librte_mempool.so.23', 'librte_mempool_ring.so.23', 'dpdk/pmds-23.0/librte_mempool_ring.so.23']) removeTree(path.join(root, 'usr/lib/x86_64-linux-gnu', f))
    writeFileSync(path.join(root, 'usr/lib/x86_64-linux-gnu/librte_mempool.so.24'), '')
    const os = await detectOs(makeContext(root, hostTools()).target.fs)
    expect(packagesFor(os, ['dpdk-mempool-ring'])).toEqual(['librte-mempool-ring24'])
  })
})

describe('applyFix', () => {
  it('runs apt-get update and install non-interactively, then starts libvirt', async () => {
    const root = host('ours')
    const runner = hostTools({libvirt: 'down'})
    const env: (Record<string, string> | undefined)[] = []
    runner.on(['apt-get'], (_argv, opts) => {
      env.push(opts.env)
      return {}
    })
    runner.on(['virtlogd', '-d'], () => {
      mkdirSync(path.join(root, 'run/libvirt'), {recursive: true})
      writeFileSync(path.join(root, 'run/libvirt/virtlogd-sock'), '')
      return {}
    })
    runner.on(['libvirtd', '-d'], () => {
      writeFileSync(path.join(root, 'run/libvirt/libvirt-sock'), '')
      runner.on(['virsh', '-c', 'qemu:///system', 'uri'], {stdout: 'qemu:///system\n'})
      return {}
    })
    const ctx = makeContext(root, runner)
    const os = await detectOs(ctx.target.fs)
    const plan = planFix([
      {id: 'iperf3', title: 'iperf3', status: 'fail', detail: 'missing', fixAction: {packages: ['iperf3']}},
      {id: 'libvirt', title: 'libvirt', status: 'warn', detail: 'down', fixAction: {daemons: ['libvirtd']}},
    ], os)
    const results = await applyFix(ctx, plan, os)
    expect(results.map((r) => [r.what, r.ok])).toEqual([['package lists', true], ['packages', true], ['libvirtd', true]])
    expect(runner.commandLines().filter((l) => /^(apt-get|virtlogd|libvirtd) /.test(l))).toEqual([
      'apt-get update', 'apt-get install -y --no-install-recommends iperf3', 'virtlogd -d', 'libvirtd -d',
    ])
    expect(env).toEqual([{DEBIAN_FRONTEND: 'noninteractive'}, {DEBIAN_FRONTEND: 'noninteractive'}])
  })

  it('reports a failed install without throwing', async () => {
    const root = host('ours')
    const runner = hostTools()
    runner.on(['apt-get', 'update'], {})
    runner.on(['apt-get', 'install'], {exitCode: 100, stderr: 'E: Unable to locate package librte-mempool-ring23\n'})
    const ctx = makeContext(root, runner)
    const os = await detectOs(ctx.target.fs)
    const plan = planFix([{id: 'x', title: 'x', status: 'fail', detail: 'd', fixAction: {packages: ['librte-mempool-ring23']}}], os)
    const results = await applyFix(ctx, plan, os)
    expect(results.at(-1)).toMatchObject({what: 'packages', ok: false})
    expect(results.at(-1)?.detail).toMatch(/apt-get exited with 100: E: Unable to locate package librte-mempool-ring23/)
  })
})

describe('doctor --fix (app)', () => {
  it('plans before acting, installs what is missing, starts libvirt, and checks again', async () => {
    const root = host('ours')
    mkdirSync(path.join(root, 'labs'))
    copyFileSync(path.join(import.meta.dirname, '../../labs/virtio-qemu.yaml'), path.join(root, 'labs/virtio-qemu.yaml'))
    const clock = {now: 0}
    const runner = hostTools({...OURS, clock, libvirt: 'down'})
    runner.uninstall('iperf3', 'busybox')
    runner.on(['apt-get', 'update'], {})
    runner.on(['apt-get', 'install'], (argv) => {
      // The package manager installs the programs.
      if (argv.includes('iperf3')) runner.install('iperf3')
      if (argv.includes('busybox-static')) runner.install('busybox')
      return {}
    })
    runner.on(['virtlogd', '-d'], () => {
      mkdirSync(path.join(root, 'run/libvirt'), {recursive: true})
      writeFileSync(path.join(root, 'run/libvirt/virtlogd-sock'), '')
      return {}
    })
    runner.on(['libvirtd', '-d'], () => {
      writeFileSync(path.join(root, 'run/libvirt/libvirt-sock'), '')
      runner.on(['virsh', '-c', 'qemu:///system', 'uri'], {stdout: 'qemu:///system\n'})
      return {}
    })
    const ctx = makeContext(root, runner)
    let callsAtPlan = -1
    const result = await doctor(ctx, {lab: '/labs/virtio-qemu.yaml', fix: true, driver: 'libvirt', onFixPlan: () => { callsAtPlan = runner.records.length }})
    // Before: iperf3 and the guest tools fail, libvirt is a warning (startable).
    expect(result.checks.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual(['iperf3', 'guest-tools'])
    expect(result.fix?.plan.packages).toEqual(['iperf3', 'busybox-static'])
    expect(result.fix?.plan.daemons).toEqual(['libvirtd'])
    // The plan was announced before any change was made.
    expect(runner.records.slice(0, callsAtPlan).some((c) => ['apt-get', 'virtlogd', 'libvirtd'].includes(c.argv[0]!))).toBe(false)
    expect(runner.records.slice(callsAtPlan).some((c) => c.argv[0] === 'apt-get')).toBe(true)
    // After: all pass except KVM (unusable here: accel auto uses tcg).
    expect(result.fix?.checksAfter.filter((c) => c.status !== 'pass').map((c) => c.id)).toEqual(['kvm'])
    expect(result.ok).toBe(true)
    expect(result.lab).toBe('virtio-qemu')
  })

  it('without --fix changes nothing and returns facts and a summary', async () => {
    const root = host('ours')
    const clock = {now: 0}
    const runner = hostTools({...OURS, clock})
    const result = await doctor(makeContext(root, runner), {})
    expect(result.fix).toBeUndefined()
    expect(result.ok).toBe(true)
    expect(result.summary.fail).toBe(0)
    expect(result.facts.kvm).toBe('unusable')
    expect(result.host).toEqual({os: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.18.44-fc-v669', qemu: '7.2.22'})
    expect(runner.commandLines().some((l) => /^(apt-get|virtlogd|libvirtd|kill)/.test(l))).toBe(false)
  })
})

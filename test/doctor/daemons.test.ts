import {existsSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import * as path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {ensureLibvirtd, ensureSystemOvs, stopStartedDaemons} from '../../src/host/daemons.js'
import {isVirtlabError} from '../../src/errors.js'
import type {FakeRunner} from '../helpers/fake-runner.js'
import {copyFixture, hostTools, makeContext, removeTree} from './host-tools.js'

const roots: string[] = []
afterEach(() => {
  for (const r of roots.splice(0)) removeTree(r)
})

function put(root: string, file: string, content = ''): void {
  mkdirSync(path.dirname(path.join(root, file)), {recursive: true})
  writeFileSync(path.join(root, file), content)
}

/**
 * A host whose libvirt daemons behave like the real ones: `virtlogd -d` / `libvirtd -d` daemonize,
 * write their pidfile and socket, and show up in /proc; SIGTERM makes them exit.
 */
function libvirtHost(options: {libvirtdComesUp?: boolean} = {}): {root: string; runner: FakeRunner} {
  const root = copyFixture('ours')
  roots.push(root)
  const runner = hostTools({libvirt: 'down'})
  let reachable = false
  runner.on(['virsh', '-c', 'qemu:///system', 'uri'], () => (reachable ? {stdout: 'qemu:///system\n'} : {exitCode: 1, stderr: "error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory"}))
  runner.on(['virtlogd', '-d'], () => {
    put(root, 'run/virtlogd.pid', '4242')
    put(root, 'proc/4242/comm', 'virtlogd\n')
    put(root, 'run/libvirt/virtlogd-sock')
    return {}
  })
  runner.on(['libvirtd', '-d'], () => {
    if (options.libvirtdComesUp === false) return {}
    put(root, 'run/libvirtd.pid', '4343')
    put(root, 'proc/4343/comm', 'libvirtd\n')
    put(root, 'run/libvirt/libvirt-sock')
    reachable = true
    return {}
  })
  runner.on(['kill', '-TERM'], (argv) => {
    rmSync(path.join(root, 'proc', argv[2] ?? 'x'), {recursive: true, force: true})
    if (argv[2] === '4343') reachable = false
    return {}
  })
  return {root, runner}
}

const fast = () => {
  const clock = {now: 0}
  return {clock: () => clock.now, sleep: async (ms: number) => { clock.now += ms }, timeoutMs: 2000}
}

describe('ensureLibvirtd / stopStartedDaemons', () => {
  it('starts virtlogd then libvirtd, waits until virsh answers, and returns what it started', async () => {
    const {root, runner} = libvirtHost()
    const ctx = makeContext(root, runner)
    const started = await ensureLibvirtd(ctx, fast())
    expect(started).toEqual([
      {name: 'virtlogd', pid: 4242, pidfile: '/run/virtlogd.pid'},
      {name: 'libvirtd', pid: 4343, pidfile: '/run/libvirtd.pid'},
    ])
    const lines = runner.commandLines()
    expect(lines.indexOf('virtlogd -d')).toBeLessThan(lines.indexOf('libvirtd -d'))
    expect(lines.at(-1)).toBe('virsh -c qemu:///system uri')

    // Idempotent: libvirt answers now, nothing is started.
    expect(await ensureLibvirtd(ctx, fast())).toEqual([])
    expect(runner.commandLines().filter((l) => l.endsWith(' -d'))).toHaveLength(2)

    // Stop exactly those, newest first.
    const stopped = await stopStartedDaemons(ctx, started, fast())
    expect(stopped.map((s) => [s.name, s.stopped])).toEqual([['libvirtd', true], ['virtlogd', true]])
    expect(runner.commandLines().filter((l) => l.startsWith('kill'))).toEqual(['kill -TERM 4343', 'kill -TERM 4242'])
    expect(existsSync(path.join(root, 'proc/4343'))).toBe(false)
  })

  it('does not start a second virtlogd when one is running', async () => {
    const {root, runner} = libvirtHost()
    put(root, 'run/virtlogd.pid', '777')
    put(root, 'proc/777/comm', 'virtlogd\n')
    const started = await ensureLibvirtd(makeContext(root, runner), fast())
    expect(started.map((d) => d.name)).toEqual(['libvirtd'])
    expect(runner.commandLines()).not.toContain('virtlogd -d')
  })

  it('never signals a pid that now belongs to another program', async () => {
    const {root, runner} = libvirtHost()
    put(root, 'proc/5000/comm', 'bash\n')
    const results = await stopStartedDaemons(makeContext(root, runner), [{name: 'libvirtd', pid: 5000, pidfile: '/run/libvirtd.pid'}], fast())
    expect(results[0]).toMatchObject({stopped: true, detail: 'pid 5000 had already exited'})
    expect(runner.commandLines().some((l) => l.startsWith('kill'))).toBe(false)
  })

  it('stops the virtlogd it started when libvirtd does not come up, then reports', async () => {
    const {root, runner} = libvirtHost({libvirtdComesUp: false})
    const error = await ensureLibvirtd(makeContext(root, runner), fast()).catch((e: unknown) => e)
    expect(isVirtlabError(error) && error.code).toBe('DAEMON_START_TIMEOUT')
    expect((error as Error).message).toMatch(/libvirtd \(socket \/run\/libvirt\/libvirt-sock\) did not come up/)
    expect(runner.commandLines().filter((l) => l.startsWith('kill'))).toEqual(['kill -TERM 4242'])
  })

  it('refuses clearly when libvirt is not installed', async () => {
    const {root, runner} = libvirtHost()
    runner.uninstall('virsh')
    const error = await ensureLibvirtd(makeContext(root, runner), fast()).catch((e: unknown) => e)
    expect(isVirtlabError(error) && error.code).toBe('LIBVIRT_NOT_INSTALLED')
  })
})

describe('ensureSystemOvs', () => {
  it('does nothing when the system OVS answers', async () => {
    const root = copyFixture('full')
    roots.push(root)
    const runner = hostTools({systemOvs: true})
    expect(await ensureSystemOvs(makeContext(root, runner), fast())).toEqual([])
  })

  it('starts it with ovs-ctl and returns how to stop it', async () => {
    const root = copyFixture('full')
    roots.push(root)
    const runner = hostTools({systemOvs: false})
    const ctl = '/usr/share/openvswitch/scripts/ovs-ctl'
    runner.on([ctl, 'start', '--system-id=random'], () => {
      runner.on(['ovs-vsctl', '--timeout=2', 'show'], {stdout: 'ovs_version: "3.1.0"\n'})
      return {}
    })
    runner.on([ctl, 'stop'], {})
    const ctx = makeContext(root, runner)
    const started = await ensureSystemOvs(ctx, fast())
    expect(started).toEqual([{name: 'ovs', pid: undefined, pidfile: undefined, stopArgv: [ctl, 'stop']}])
    await stopStartedDaemons(ctx, started, fast())
    expect(runner.commandLines().at(-1)).toBe(`${ctl} stop`)
  })

  it('reports an ovs-ctl failure (no openvswitch module) with its stderr', async () => {
    const root = copyFixture('ours')
    roots.push(root)
    const runner = hostTools({systemOvs: false})
    const ctl = '/usr/share/openvswitch/scripts/ovs-ctl'
    runner.on([ctl, 'start', '--system-id=random'], {exitCode: 1, stderr: 'modprobe: FATAL: Module openvswitch not found in directory /lib/modules/6.18.44-fc-v669\n * Inserting openvswitch module\n'})
    runner.on([ctl, 'stop'], {})
    const error = await ensureSystemOvs(makeContext(root, runner), fast()).catch((e: unknown) => e)
    expect(isVirtlabError(error) && error.code).toBe('OVS_START_FAILED')
    expect((error as Error).message).toMatch(/Inserting openvswitch module/)
  })
})

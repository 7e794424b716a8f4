/**
 * For real: build (cached) and boot a nested lab host, reach its sshd, run commands in L1, stop,
 * start, and remove it, leaving nothing on this machine (no QEMU, no run files under /run, no host
 * files; the build cache stays).
 */
import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {listNestedHosts, readHostConfig, removeNestedHost, runningPid} from '../../src/nested/lifecycle.js'
import {hostPaths} from '../../src/nested/layout.js'
import {cli, env, ensureSharedHost, HOST, HOSTS_FILE, l1, NESTED_RUN_DIR, NESTED_STATE_DIR} from './shared-host.js'


function qemuProcesses(): string[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      // A zombie has exited; its parent (this machine's init) has yet to reap it.
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === `virtlab-${HOST}`.slice(0, 15) && !/\)\s+Z/.test(stat)
    } catch {
      return false
    }
  })
}

describe('nested lab host (real, TCG)', () => {
  it('host create builds (or reuses) the cache, boots L1 and reports its phases and disk use', async () => {
    const e = env()
    if ((await readHostConfig(e, HOST)) !== undefined) await removeNestedHost(e, HOST)
    rmSync(HOSTS_FILE, {force: true})
    const r = await cli(['host', 'create', HOST, '--nested', '--memory', '6G', '--json'])
    expect(r.code, r.stderr + r.stdout).toBe(0)
    const out = r.json as {status: {state: string; sshPort: number}; build: {disk: {path: string; bytes: number}[]; manifest: {kernel: {version: string}; qemu: {version: string}}}; boot: {totalMs: number}}
    expect(out.status.state).toBe('running')
    expect(out.build.manifest.qemu.version).toMatch(/^1:10\./)
    expect(out.build.disk.map((d) => d.path.split('/').pop()?.split('-')[0])).toEqual(['kernel', 'qemu', 'root', 'build'])
    expect(out.build.disk.find((d) => d.path.includes('/root-'))!.bytes).toBeGreaterThan(300 * 1048576)
    expect(out.boot.totalMs).toBeGreaterThan(0)
    // Registered as an ssh host: --host vt-nested works through the seam.
    expect(readFileSync(HOSTS_FILE, 'utf8')).toContain(`url: ssh://root@virtlab-${HOST}`)
    const listed = await cli(['host', 'list', '--json'])
    expect((listed.json as {nested: {name: string; state: string}[]}).nested).toContainEqual(expect.objectContaining({name: HOST, state: 'running'}))
    process.stderr.write(`nested: build ${JSON.stringify(out.build.disk)}; boot ${JSON.stringify(out.boot)}\n`)
    // A second create of the same name is refused.
    const again = await cli(['host', 'create', HOST, '--nested', '--json'])
    expect(again.code).toBe(1)
    expect(JSON.stringify(again.json)).toContain('NESTED_HOST_EXISTS')
  }, 1_800_000)

  it('L1 answers over SSH with host-key checking on, and has what the labs need', async () => {
    await ensureSharedHost()
    const e = env()
    const config = (await readHostConfig(e, HOST))!
    expect(l1(['uname', '-r']).trim()).toMatch(/^6\.12\.\S+-amd64$/)
    expect(l1(['cat', '/sys/bus/pci/devices/0000:01:00.0/sriov_totalvfs']).trim()).toBe('7')
    expect(l1(['readlink', '/sys/bus/pci/devices/0000:01:00.0/driver']).trim()).toMatch(/\/igb$/)
    expect(l1(['ls', '/dev/vhost-net', '/dev/kvm', '/dev/vduse/control', '/dev/vfio/vfio'])).toContain('/dev/vduse/control')
    expect(l1(['vdpa', 'mgmtdev', 'show'])).toMatch(/vduse/)
    expect(l1(['ls', '/sys/kernel/iommu_groups']).trim().split('\n').length).toBeGreaterThan(1)
    // No route out: only the control NIC's own subnet.
    expect(l1(['ip', 'route', 'show']).trim()).toBe('10.0.2.0/24 dev ctl0 proto kernel scope link src 10.0.2.15')
    // The root is read-only underneath; writes land in L1's tmpfs overlay only.
    l1(['touch', '/etc/virtlab-test-write'])
    expect(existsSync(join(NESTED_STATE_DIR, 'nested'))).toBe(true)
    const roots = readdirSync(join(NESTED_STATE_DIR, 'nested')).filter((d) => d.startsWith('root-'))
    expect(roots.some((d) => existsSync(join(NESTED_STATE_DIR, 'nested', d, 'etc/virtlab-test-write')))).toBe(false)
    // A wrong host key is refused (checking is on, never turned off).
    const paths = hostPaths(NESTED_STATE_DIR, NESTED_RUN_DIR, HOST)
    let refused = ''
    try {
      execFileSync('ssh', ['-F', paths.sshConfig, '-o', 'UserKnownHostsFile=/dev/null', `virtlab-${HOST}`, 'true'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000})
    } catch (error) {
      refused = String((error as {stderr?: string}).stderr)
    }
    expect(refused).toMatch(/Host key verification failed|No ED25519 host key is known/)
    expect(config.sshPort).toBeGreaterThan(1024)
    const listed = await listNestedHosts(e)
    expect(listed.find((h) => h.name === HOST)).toMatchObject({state: 'running', sshPort: config.sshPort})
  }, 1_800_000)

  it('stop, start, and rm leave nothing on this machine but the build cache', async () => {
    await ensureSharedHost()
    const e = env()
    const paths = hostPaths(NESTED_STATE_DIR, NESTED_RUN_DIR, HOST)
    const stop = await cli(['host', 'stop', HOST, '--json'])
    expect(stop.code, stop.stderr).toBe(0)
    expect(await runningPid(e, HOST)).toBeUndefined()
    expect(qemuProcesses()).toEqual([])
    expect(existsSync(paths.runDir)).toBe(false)
    const start = await cli(['host', 'start', HOST, '--json'])
    expect(start.code, start.stderr).toBe(0)
    expect((start.json as {status: {state: string}}).status.state).toBe('running')
    process.stderr.write(`nested: start ${JSON.stringify((start.json as {boot: unknown}).boot)}\n`)
    expect(l1(['cat', '/etc/hostname']).trim()).toBe(HOST)
    const build = (await readHostConfig(e, HOST))!.buildKey
    const rm = await cli(['host', 'rm', HOST, '--json'])
    expect(rm.code, rm.stderr).toBe(0)
    expect(rm.json).toMatchObject({wasRunning: true, hostsFileEntryRemoved: true, purged: []})
    expect(readFileSync(HOSTS_FILE, 'utf8')).not.toContain(HOST)
    expect(qemuProcesses()).toEqual([])
    expect(existsSync(paths.runDir)).toBe(false)
    expect(existsSync(paths.dir)).toBe(false)
    expect(readdirSync(join(NESTED_RUN_DIR, 'hosts'))).toEqual([])
    expect(existsSync(join(NESTED_STATE_DIR, 'nested', `build-${build}`, 'initrd.gz'))).toBe(true)
  }, 1_800_000)
})

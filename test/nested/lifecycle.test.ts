/**
 * The nested host's lifecycle against a fake machine (temp root, scripted runner): a boot that
 * panics is NESTED_BOOT_FAILED with the console's tail, QEMU is killed, and `rm` leaves nothing.
 */
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {RootedFs} from '../../src/host/fs.js'
import type {CommandRunner, RunOptions, RunResult} from '../../src/host/runner.js'
import {BUILD_FORMAT_VERSION, type BuildManifest} from '../../src/nested/build.js'
import type {NestedEnv} from '../../src/nested/env.js'
import {hostPaths} from '../../src/nested/layout.js'
import {listNestedHosts, removeNestedHost, startNestedHost} from '../../src/nested/lifecycle.js'

const STATE = '/var/lib/virtlab'
const RUN = '/run/virtlab'
const PID = 4242

describe('nested host lifecycle (fake machine)', () => {
  let root = ''
  afterEach(() => rmSync(root, {recursive: true, force: true}))

  function setUp(consoleText: string): {env: NestedEnv; ran: string[][]} {
    root = mkdtempSync(join(tmpdir(), 'nested-life-'))
    const put = (p: string, text: string): void => {
      mkdirSync(join(root, p, '..'), {recursive: true})
      writeFileSync(join(root, p), text)
    }
    const n = `${STATE}/nested`
    const manifest = {
      formatVersion: BUILD_FORMAT_VERSION, key: 'b1', dir: `${n}/build-b1`, initrd: `${n}/build-b1/initrd.gz`, builtAt: '', initramfsModules: [], initrdBytes: 1,
      kernel: {key: 'k', dir: `${n}/kernel-k`, vmlinuz: `${n}/kernel-k/boot/vmlinuz-6.12`, modulesDir: '', package: '', packageVersion: '', version: '6.12'},
      qemu: {key: 'q', dir: `${n}/qemu-q`, version: '1:10.0', binary: `${n}/qemu-q/usr/bin/qemu-system-x86_64`, dataDir: `${n}/qemu-q/usr/share/qemu`, moduleDir: `${n}/qemu-q/none`},
      root: {key: 'r', dir: `${n}/root-r`, suite: 'trixie', mirror: 'http://m', packages: [], cachedDebs: {}},
    } as unknown as BuildManifest
    put(`${n}/build-b1/manifest.json`, JSON.stringify(manifest))
    put(`${n}/build-b1/initrd.gz`, 'x')
    put(`${n}/kernel-k/boot/vmlinuz-6.12`, 'x')
    put(`${n}/qemu-q/usr/bin/qemu-system-x86_64`, 'x')
    put(`${n}/root-r/.virtlab-root.json`, '{}')
    put(`${n}/hosts/lab1/host.json`, JSON.stringify({name: 'lab1', kind: 'nested', memoryMiB: 2048, cpus: 1, sshPort: 22999, buildKey: 'b1', createdAt: ''}))
    put(`${n}/hosts/lab1/ssh_host_ed25519_key.pub`, 'ssh-ed25519 AAAA root@lab1\n')
    const paths = hostPaths(STATE, RUN, 'lab1')
    const ran: string[][] = []
    const runner: CommandRunner = {
      async run(argv: readonly string[], _options?: RunOptions): Promise<RunResult> {
        ran.push([...argv])
        if (argv[0]?.endsWith('qemu-system-x86_64')) {
          put(paths.pidfile, `${PID}\n`)
          put(paths.console, consoleText)
          put(`/proc/${PID}/comm`, 'virtlab-lab1\n')
          put(`/proc/${PID}/stat`, `${PID} (virtlab-lab1) S 1 1 1\n`)
        }
        if (argv[0] === 'kill') rmSync(join(root, 'proc', String(PID)), {recursive: true, force: true})
        return {argv, exitCode: 0, stdout: '', stderr: ''}
      },
      async which(program: string) {
        return `/usr/bin/${program}`
      },
    }
    const env: NestedEnv = {runner, fs: new RootedFs(root), stateDir: STATE, runBase: RUN, packageRoot: '/', resourceFs: new RootedFs(root), progress: () => {}, env: {}}
    return {env, ran}
  }

  it('a kernel panic while booting is NESTED_BOOT_FAILED with the console tail; QEMU is killed; rm leaves nothing', async () => {
    const {env, ran} = setUp('[    0.04] Kernel panic - not syncing: timer doesn\'t work through Interrupt-remapped IO-APIC\n[    0.04] Call Trace:\n')
    const failure = await startNestedHost(env, 'lab1', {bootTimeoutMs: 30_000}).catch((e: unknown) => e)
    expect(failure).toMatchObject({code: 'NESTED_BOOT_FAILED', message: expect.stringContaining('Kernel panic - not syncing: timer')})
    expect((failure as {hint: string}).hint).toContain('Call Trace')
    expect(ran.some((a) => a[0] === 'kill' && a.includes(String(PID)))).toBe(true)
    expect(await listNestedHosts(env)).toMatchObject([{name: 'lab1', state: 'stopped'}])
    const paths = hostPaths(STATE, RUN, 'lab1')
    await removeNestedHost(env, 'lab1')
    expect(existsSync(join(root, paths.runDir))).toBe(false)
    expect(existsSync(join(root, paths.dir))).toBe(false)
    expect(existsSync(join(root, STATE, 'nested/build-b1/manifest.json'))).toBe(true)
  })

  it('QEMU exiting during boot (e.g. the outer host ran out of memory) names that, with the console', async () => {
    const {env} = setUp('[    1.0] virtio_net ...\n')
    const started = startNestedHost(env, 'lab1', {bootTimeoutMs: 30_000}).catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 300))
    rmSync(join(root, 'proc', String(PID)), {recursive: true, force: true})
    expect(await started).toMatchObject({code: 'NESTED_BOOT_FAILED', message: expect.stringContaining('its QEMU process exited')})
  })

  it('an unknown host is a clear error', async () => {
    const {env} = setUp('')
    await expect(startNestedHost(env, 'nope')).rejects.toMatchObject({code: 'NESTED_HOST_UNKNOWN'})
    await expect(startNestedHost(env, '../x')).rejects.toMatchObject({code: 'NESTED_BAD_NAME'})
  })
})

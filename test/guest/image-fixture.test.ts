/**
 * buildImage against a fixture host (RootedFs) and a scripted runner: the host-kernel path
 * (/boot/vmlinuz-<ver> with /lib/modules/<ver>, which the project's machines do not have),
 * dependency order from modules.dep, compressed modules, the cache key, the error for a kernel
 * without virtio. The real Debian-kernel path is exercised in boot.test.ts.
 */
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'

import {afterEach, describe, expect, it} from 'vitest'

import type {Context, ProgressEvent} from '../../src/app/context.js'
import {buildImage, ensureImage} from '../../src/guest/image.js'
import {RootedFs} from '../../src/host/fs.js'
import type {RunResult} from '../../src/host/runner.js'
import {testContext} from '../helpers/context.js'
import {FakeRunner} from '../helpers/fake-runner.js'

const roots: string[] = []
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, {recursive: true, force: true})
})

const KVER = '6.9.0-test'

function put(root: string, path: string, content: string | Uint8Array, mode = 0o644): void {
  const full = join(root, path)
  mkdirSync(dirname(full), {recursive: true})
  writeFileSync(full, content, {mode})
}

function fixture(options: {virtioNet?: boolean} = {}): {root: string; ctx: Context; runner: FakeRunner; events: ProgressEvent[]} {
  const root = mkdtempSync(join(tmpdir(), 'virtlab-imgfix-'))
  roots.push(root)
  put(root, `/boot/vmlinuz-${KVER}`, 'KERNEL-BYTES')
  put(root, '/boot/vmlinuz-5.0.0-old', 'OLD') // no /lib/modules for it: not usable
  put(root, '/proc/sys/kernel/osrelease', `${KVER}\n`)
  const mod = `/lib/modules/${KVER}`
  const deps = [
    'kernel/drivers/virtio/virtio_pci_legacy_dev.ko:',
    'kernel/drivers/virtio/virtio_pci_modern_dev.ko:',
    'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko',
    'kernel/net/core/failover.ko:',
    'kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko',
    'kernel/lib/dimlib.ko:',
    ...(options.virtioNet === false ? [] : ['kernel/drivers/net/virtio_net.ko.gz: kernel/lib/dimlib.ko kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko']),
  ]
  put(root, `${mod}/modules.dep`, deps.join('\n') + '\n')
  put(root, `${mod}/modules.builtin`, 'kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\nkernel/drivers/char/virtio_console.ko\n')
  for (const line of deps) {
    const path = line.split(':')[0] as string
    const name = path.split('/').pop() as string
    put(root, `${mod}/${path}`, path.endsWith('.gz') ? gzipSync(`MODULE ${name}`) : `MODULE ${name}`)
  }
  put(root, '/bin/busybox', 'BUSYBOX', 0o755)
  put(root, '/usr/bin/iperf3', 'IPERF3', 0o755)
  put(root, '/lib/x86_64-linux-gnu/libiperf.so.0', 'LIBIPERF')
  put(root, '/lib/x86_64-linux-gnu/libglib-2.0.so.0', 'LIBGLIB')
  put(root, '/lib64/ld-linux-x86-64.so.2', 'LDSO')
  put(root, '/var/cache/apt/archives/qemu-guest-agent_1%3a7.2+dfsg-7_amd64.deb', 'DEB')
  put(root, '/pkg/guest/init.sh', '#!/bin/busybox sh\necho fixture\n')

  const runner = new FakeRunner((argv, options): RunResult => {
    const ok = (stdout = ''): RunResult => ({argv, exitCode: 0, stdout, stderr: ''})
    const [cmd] = argv
    if (cmd === 'dpkg-query') return {argv, exitCode: 0, stdout: 'busybox-static ii  1:1.35.0-4\niperf3 ii  3.12-1\n', stderr: ''}
    if (cmd === 'apt-cache' && argv[1] === 'policy') return ok(`${argv[2]}:\n  Installed: (none)\n  Candidate: 1:7.2+dfsg-7\n`)
    if (cmd === 'dpkg' && argv[1] === '-x') {
      put('/', join(argv[3] as string, 'usr/sbin/qemu-ga'), 'QEMU-GA', 0o755)
      return ok()
    }
    if (cmd === 'ldd') {
      if ((argv[1] as string).endsWith('/bin/busybox')) return {argv, exitCode: 1, stdout: '\tnot a dynamic executable\n', stderr: ''}
      const lib = (argv[1] as string).endsWith('iperf3') ? 'libiperf.so.0' : 'libglib-2.0.so.0'
      return ok(`\tlinux-vdso.so.1 (0x1)\n\t${lib} => /lib/x86_64-linux-gnu/${lib} (0x2)\n\t/lib64/ld-linux-x86-64.so.2 (0x3)\n`)
    }
    if ((cmd as string).endsWith('/bin/busybox') && argv[1] === '--list-full') return ok('bin/sh\nsbin/ip\nusr/bin/[\n')
    return {argv, exitCode: 127, stdout: '', stderr: `unexpected command in fixture: ${argv.join(' ')} ${options.cwd ?? ''}`}
  })
  const events: ProgressEvent[] = []
  const ctx: Context = testContext({runner, fs: new RootedFs(root), packageRoot: '/pkg', progress: (e) => events.push(e)})
  return {root, ctx, runner, events}
}

function listInitrd(root: string, initrd: string): {names: string[]; file: (p: string) => string} {
  const work = mkdtempSync(join(tmpdir(), 'virtlab-imgfix-x-'))
  roots.push(work)
  writeFileSync(join(work, 'a.cpio'), gunzipSync(readFileSync(join(root, initrd))))
  const names = execFileSync('cpio', ['-it', '--quiet', '-F', 'a.cpio'], {cwd: work, encoding: 'utf8'}).trim().split('\n')
  mkdirSync(join(work, 'x'))
  execFileSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames', '-F', '../a.cpio'], {cwd: join(work, 'x')})
  return {names, file: (p) => readFileSync(join(work, 'x', p), 'utf8')}
}

describe('buildImage with the host kernel (fixture host)', () => {
  it('uses /boot/vmlinuz-<running> and its modules, dependencies first, decompressed, built-ins skipped', async () => {
    const {root, ctx, runner, events} = fixture()
    const result = await buildImage(ctx)
    expect(result.built).toBe(true)
    expect(result.manifest.kernel).toEqual({source: 'host', version: KVER, packageVersion: 'vmlinuz size 12'})
    expect(readFileSync(join(root, '/var/lib/virtlab/images/builtin/vmlinuz'), 'utf8')).toBe('KERNEL-BYTES')
    expect(result.manifest.modules).toEqual({
      load: ['virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'failover', 'net_failover', 'dimlib', 'virtio_net'],
      builtin: ['virtio_ring', 'virtio', 'virtio_console'],
      absent: [],
    })
    const initrd = listInitrd(root, '/var/lib/virtlab/images/builtin/initrd.gz')
    expect(initrd.file('etc/virtlab/modules')).toBe(result.manifest.modules.load.join('\n') + '\n')
    expect(initrd.file('lib/modules/virtlab/virtio_net.ko')).toBe('MODULE virtio_net.ko.gz') // gunzipped
    expect(initrd.file('init')).toBe('#!/bin/busybox sh\necho fixture\n')
    expect(initrd.file('usr/sbin/qemu-ga')).toBe('QEMU-GA')
    expect(initrd.file('lib/x86_64-linux-gnu/libglib-2.0.so.0')).toBe('LIBGLIB')
    expect(initrd.file('lib64/ld-linux-x86-64.so.2')).toBe('LDSO')
    expect(initrd.names).toEqual(expect.arrayContaining(['bin/busybox', 'bin/sh', 'sbin/ip', 'usr/bin/[', 'usr/bin/iperf3', 'dev/console', 'dev/null']))
    // No kernel download, no apt-cache search: the host kernel was there. The cached deb was used.
    expect(runner.calls.some((c) => c[0] === 'apt-get' || (c[0] === 'apt-cache' && c[1] === 'search'))).toBe(false)
    expect(runner.calls.find((c) => c[0] === 'dpkg')?.[2]).toBe(join(root, '/var/cache/apt/archives/qemu-guest-agent_1%3a7.2+dfsg-7_amd64.deb'))
    expect(events.filter((e) => e.type === 'step-done').map((e) => e.stepId)).toEqual(['image:kernel', 'image:userland', 'image:initramfs'])

    // Same inputs: same key, cached. A changed /init: a new key, and ensureImage rebuilds for it.
    expect((await buildImage(ctx)).built).toBe(false)
    expect((await ensureImage(ctx)).built).toBe(false)
    put(root, '/pkg/guest/init.sh', '#!/bin/busybox sh\necho changed\n')
    const rebuilt = await ensureImage(ctx)
    expect(rebuilt.built).toBe(true)
    expect(rebuilt.manifest.key).not.toBe(result.manifest.key)
  })

  it('refuses a kernel without virtio_net, naming what is missing', async () => {
    const {ctx} = fixture({virtioNet: false})
    await expect(buildImage(ctx)).rejects.toMatchObject({code: 'IMAGE_KERNEL_UNSUITABLE', message: expect.stringContaining('virtio_net')})
  })

  it('says which package to install when iperf3 is missing', async () => {
    const bare = fixture()
    const noIperf = new FakeRunner((argv) => argv[0] === 'dpkg-query'
      ? {argv, exitCode: 1, stdout: 'busybox-static ii  1:1.35.0-4\n', stderr: 'dpkg-query: no packages found matching iperf3'}
      : {argv, exitCode: 0, stdout: '', stderr: ''})
    await expect(buildImage({...bare.ctx, target: {...bare.ctx.target, runner: noIperf}})).rejects.toMatchObject({code: 'IMAGE_PACKAGE_MISSING', hint: expect.stringContaining('iperf3')})
  })
})

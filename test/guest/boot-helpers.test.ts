import {mkdtempSync, rmSync, writeFileSync, appendFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {guestKernelCmdline, readyLine, waitForReadyMarker} from '../../src/guest/boot.js'
import {builtinImagePaths} from '../../src/guest/image.js'
import {RootedFs} from '../../src/host/fs.js'

describe('guestKernelCmdline', () => {
  it('is the format /init parses', () => {
    expect(guestKernelCmdline('vm1', [{mac: '52:54:00:AA:00:01', cidr: '10.99.0.2/24'}, {mac: '52:54:00:aa:00:02'}])).toBe(
      'console=ttyS0 panic=-1 quiet virtlab.vm=vm1 virtlab.net=52:54:00:aa:00:01,10.99.0.2/24;52:54:00:aa:00:02,',
    )
    expect(guestKernelCmdline('vm1', [], ['mitigations=off'])).toBe('console=ttyS0 panic=-1 quiet virtlab.vm=vm1 mitigations=off')
  })

  it('refuses values that would break the command line', () => {
    expect(() => guestKernelCmdline('vm 1', [])).toThrow(/VM name/)
    expect(() => guestKernelCmdline('vm1', [{mac: 'nope'}])).toThrow(/MAC/)
    expect(() => guestKernelCmdline('vm1', [{mac: '52:54:00:aa:00:01', cidr: '10.0.0.1/24 init=/bin/sh'}])).toThrow(/address/)
    expect(() => guestKernelCmdline('vm1', [], ['a b'])).toThrow(/whitespace/)
  })
})

describe('waitForReadyMarker', () => {
  it('waits for the exact line of this VM, not another VM with a longer name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'virtlab-ready-'))
    try {
      const log = join(dir, 'console.log')
      writeFileSync(log, 'booting\nVIRTLAB-READY vm10\n')
      setTimeout(() => appendFileSync(log, `${readyLine('vm1')}\r\n`), 300)
      const waited = await waitForReadyMarker(new RootedFs('/'), log, 'vm1', {timeoutMs: 5000, pollMs: 20})
      expect(waited).toBeGreaterThanOrEqual(250)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('times out with the console tail in the hint, and notices a dead VM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'virtlab-ready-'))
    try {
      const fs = new RootedFs(dir)
      writeFileSync(join(dir, 'c.log'), 'Kernel panic - not syncing\n')
      await expect(waitForReadyMarker(fs, '/c.log', 'vm1', {timeoutMs: 100, pollMs: 20})).rejects.toMatchObject({
        code: 'GUEST_BOOT_TIMEOUT',
        hint: expect.stringContaining('Kernel panic'),
      })
      await expect(waitForReadyMarker(fs, '/c.log', 'vm1', {timeoutMs: 5000, isAlive: () => false})).rejects.toMatchObject({code: 'GUEST_DIED'})
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('image paths', () => {
  it('the stable pointer the compiler references', () => {
    expect(builtinImagePaths('/var/lib/virtlab')).toEqual({
      dir: '/var/lib/virtlab/images/builtin',
      kernel: '/var/lib/virtlab/images/builtin/vmlinuz',
      initrd: '/var/lib/virtlab/images/builtin/initrd.gz',
      manifest: '/var/lib/virtlab/images/builtin/manifest.json',
    })
  })
})

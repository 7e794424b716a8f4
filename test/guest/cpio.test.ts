import {execFileSync} from 'node:child_process'
import {lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'

import {afterEach, describe, expect, it} from 'vitest'

import {archivePath, CpioTree, writeCpio, writeInitramfs} from '../../src/guest/cpio.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

function sample(): CpioTree {
  return new CpioTree()
    .file('/init', new TextEncoder().encode('#!/bin/sh\necho hi\n'), 0o755)
    .file('usr/lib/x86_64-linux-gnu/libfoo.so.1', new Uint8Array([1, 2, 3, 4, 5]), 0o644) // parents implied
    .symlink('bin/sh', '/bin/busybox')
    .file('bin/busybox', new Uint8Array(1001).fill(7), 0o755)
    .chardev('dev/console', 5, 1, 0o600)
    .dir('tmp', 0o1777)
}

/** Walk the newc entries: [name, mode, filesize, offset of the header]. */
function headers(archive: Uint8Array): {name: string; mode: number; size: number; offset: number}[] {
  const text = Buffer.from(archive)
  const out: {name: string; mode: number; size: number; offset: number}[] = []
  let offset = 0
  for (;;) {
    expect(text.toString('ascii', offset, offset + 6)).toBe('070701')
    const field = (i: number) => parseInt(text.toString('ascii', offset + 6 + i * 8, offset + 14 + i * 8), 16)
    const size = field(6)
    const nameSize = field(11)
    const name = text.toString('utf8', offset + 110, offset + 110 + nameSize - 1)
    out.push({name, mode: field(1), size, offset})
    if (name === 'TRAILER!!!') return out
    const dataStart = Math.ceil((offset + 110 + nameSize) / 4) * 4
    offset = Math.ceil((dataStart + size) / 4) * 4
  }
}

describe('cpio newc writer', () => {
  it('writes 4-byte aligned headers, parents before children, a trailer', () => {
    const archive = writeCpio(sample().list())
    const entries = headers(archive)
    expect(entries.every((e) => e.offset % 4 === 0)).toBe(true)
    const names = entries.map((e) => e.name)
    expect(names.at(-1)).toBe('TRAILER!!!')
    for (const name of names) {
      const parent = name.split('/').slice(0, -1).join('/')
      if (parent !== '') expect(names.indexOf(parent), `${parent} before ${name}`).toBeLessThan(names.indexOf(name))
    }
    expect(names).toContain('usr/lib/x86_64-linux-gnu')
    expect(entries.find((e) => e.name === 'bin/busybox')).toMatchObject({mode: 0o100755, size: 1001})
    expect(entries.find((e) => e.name === 'bin/sh')).toMatchObject({mode: 0o120777, size: '/bin/busybox'.length})
    expect(entries.find((e) => e.name === 'dev/console')?.mode).toBe(0o020600)
    expect(entries.find((e) => e.name === 'tmp')?.mode).toBe(0o041777)
  })

  it('is deterministic (same entries, same bytes, whatever the insertion order)', () => {
    const a = writeCpio(sample().list())
    const reversed = new CpioTree()
    for (const e of sample().list().reverse()) reversed.add(e)
    expect(Buffer.compare(Buffer.from(a), Buffer.from(writeCpio(reversed.list())))).toBe(0)
    expect(Buffer.compare(Buffer.from(writeInitramfs(sample())), Buffer.from(writeInitramfs(sample())))).toBe(0)
  })

  it('is read back by GNU cpio exactly: files, modes, symlinks, device nodes', () => {
    const work = mkdtempSync(join(tmpdir(), 'virtlab-cpio-'))
    dirs.push(work)
    const file = join(work, 'a.cpio')
    writeFileSync(file, gunzipSync(writeInitramfs(sample())))
    const out = join(work, 'out')
    execFileSync('mkdir', [out])
    execFileSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames', '-F', file], {cwd: out})
    expect(readFileSync(join(out, 'init'), 'utf8')).toBe('#!/bin/sh\necho hi\n')
    expect(lstatSync(join(out, 'init')).mode & 0o777).toBe(0o755)
    expect([...readFileSync(join(out, 'usr/lib/x86_64-linux-gnu/libfoo.so.1'))]).toEqual([1, 2, 3, 4, 5])
    expect(readFileSync(join(out, 'bin/busybox')).length).toBe(1001)
    expect(readlinkSync(join(out, 'bin/sh'))).toBe('/bin/busybox')
    const console = lstatSync(join(out, 'dev/console'))
    expect(console.isCharacterDevice()).toBe(true)
    expect(console.rdev).toBe((5 << 8) | 1)
    const listing = execFileSync('cpio', ['-it', '--quiet', '-F', file], {encoding: 'utf8'}).trim().split('\n')
    expect(listing).toEqual(sample().list().map((e) => e.path))
  })

  it('normalises paths and refuses .. and files used as directories', () => {
    expect(archivePath('/a//b/./c')).toBe('a/b/c')
    expect(() => archivePath('a/../b')).toThrow(/\.\./)
    const tree = new CpioTree().file('x', new Uint8Array(1)).file('x/y', new Uint8Array(1))
    expect(() => tree.list()).toThrow(/x is a file/)
  })
})

/**
 * Symlinks and modes as root: virtlab's directories and files are never reached through a link
 * someone planted, temp files have unpredictable names and are created exclusively, existing
 * directories are checked (owner, mode) and refused with the path and the fix, and
 * `render --out D` keeps D's mode and never writes through a link in it.
 */
import * as nodefs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {renderLab} from '../../src/app/render.js'
import {JournalStore, ensureLabStateDir, journalPath} from '../../src/apply/journal.js'
import {RootedFs} from '../../src/host/fs.js'

const roots: string[] = []
function root(): {dir: string; fs: RootedFs; at: (p: string) => string} {
  const dir = nodefs.mkdtempSync(path.join(os.tmpdir(), 'virtlab-fssafe-'))
  roots.push(dir)
  const fs = new RootedFs(dir)
  return {dir, fs, at: (p) => fs.resolve(p)}
}
afterEach(() => {
  for (const r of roots.splice(0)) nodefs.rmSync(r, {recursive: true, force: true})
})

const header = {lab: 'x', file: '/labs/x.yaml', driver: 'qemu' as const, netns: undefined, runDir: '/run/virtlab/x', params: {}, degraded: []}
const modeOf = (p: string) => nodefs.statSync(p).mode & 0o7777

describe('symlinks and modes as root', () => {
  it('a lab state dir that is a symbolic link is refused; its target keeps its mode and gets no journal', async () => {
    const {fs, at} = root()
    nodefs.mkdirSync(at('/state'), {mode: 0o755})
    nodefs.mkdirSync(at('/elsewhere'), {mode: 0o755})
    nodefs.chmodSync(at('/elsewhere'), 0o755)
    nodefs.symlinkSync(at('/elsewhere'), at('/state/x'))
    await expect(JournalStore.open(fs, '/state', header)).rejects.toMatchObject({code: 'UNSAFE_PATH', message: expect.stringContaining('/state/x'), hint: expect.stringMatching(/remove/)})
    expect(modeOf(at('/elsewhere'))).toBe(0o755)
    expect(nodefs.readdirSync(at('/elsewhere'))).toEqual([])
  })

  it('a state dir that is a symbolic link owned by another user is refused (chmod/chown never reach its target)', async () => {
    const {fs, at} = root()
    nodefs.mkdirSync(at('/victim'), {mode: 0o750})
    nodefs.chmodSync(at('/victim'), 0o750)
    nodefs.symlinkSync(at('/victim'), at('/state'))
    nodefs.lchownSync(at('/state'), 1234, 1234)
    await expect(ensureLabStateDir(fs, '/state', 'x')).rejects.toMatchObject({code: 'UNSAFE_PATH'})
    expect(modeOf(at('/victim'))).toBe(0o750)
    expect(nodefs.readdirSync(at('/victim'))).toEqual([])
  })

  it('an existing lab state dir writable by others, or owned by another user, is refused with the fix', async () => {
    const {fs, at} = root()
    nodefs.mkdirSync(at('/state/x'), {recursive: true})
    nodefs.chmodSync(at('/state/x'), 0o777)
    await expect(ensureLabStateDir(fs, '/state', 'x')).rejects.toMatchObject({code: 'UNSAFE_PATH', message: expect.stringMatching(/writable/), hint: expect.stringMatching(/chmod 700/)})
    nodefs.chmodSync(at('/state/x'), 0o700)
    nodefs.chownSync(at('/state/x'), 1234, 1234)
    await expect(ensureLabStateDir(fs, '/state', 'x')).rejects.toMatchObject({code: 'UNSAFE_PATH', message: expect.stringMatching(/owned by uid 1234/)})
  })

  it('temp files: a symlink planted at the old predictable name (journal.json.tmp-<pid>) is never written through', async () => {
    const {fs, at} = root()
    const store = await JournalStore.open(fs, '/state', header)
    nodefs.writeFileSync(at('/precious'), 'secret\n', {mode: 0o600})
    nodefs.symlinkSync(at('/precious'), at(`${journalPath('/state', 'x')}.tmp-${process.pid}`))
    await store.append({stepId: 's', title: 't', phase: 'host', undo: []})
    expect(nodefs.readFileSync(at('/precious'), 'utf8')).toBe('secret\n')
    expect(modeOf(at('/precious'))).toBe(0o600)
    // Nothing but the journal and the planted link: the real temp file was renamed into place.
    expect(nodefs.readdirSync(at('/state/x')).sort()).toEqual(['journal.json', `journal.json.tmp-${process.pid}`])
  })

  it('writeFile, chmod and chown refuse a symbolic link at the path; the target is untouched', async () => {
    const {fs, at} = root()
    nodefs.writeFileSync(at('/precious'), 'secret\n', {mode: 0o600})
    nodefs.mkdirSync(at('/d'))
    nodefs.symlinkSync(at('/precious'), at('/d/f'))
    await expect(fs.writeFile('/d/f', 'x')).rejects.toMatchObject({code: 'UNSAFE_PATH'})
    await expect(fs.writeFile('/d/f', 'x', {atomic: true, mode: 0o644})).rejects.toMatchObject({code: 'UNSAFE_PATH'})
    await expect(fs.chmod('/d/f', 0o644)).rejects.toMatchObject({code: 'UNSAFE_PATH'})
    await expect(fs.chown('/d/f', 1234, 1234)).rejects.toMatchObject({code: 'UNSAFE_PATH'})
    expect(nodefs.readFileSync(at('/precious'), 'utf8')).toBe('secret\n')
    expect(modeOf(at('/precious'))).toBe(0o600)
    expect(nodefs.statSync(at('/precious')).uid).toBe(0)
  })

  it('render --out D keeps D\'s mode and refuses a symbolic link in D instead of writing through it', async () => {
    const {fs, at} = root()
    const ctx = {operator: {fs, packageRoot: process.cwd()}, target: {runBase: '/run/virtlab', stateDir: '/var/lib/virtlab'}}
    const lab = '/labs/virtio-qemu.yaml'
    nodefs.mkdirSync(at('/labs'))
    nodefs.copyFileSync(path.join(process.cwd(), 'labs', 'virtio-qemu.yaml'), at(lab))
    nodefs.mkdirSync(at('/out'), {mode: 0o700})
    nodefs.chmodSync(at('/out'), 0o700)
    await renderLab(lab, {out: '/out'}, ctx)
    expect(modeOf(at('/out'))).toBe(0o700)
    expect(nodefs.existsSync(at('/out/plan.txt'))).toBe(true)
    nodefs.writeFileSync(at('/precious'), 'secret\n', {mode: 0o600})
    nodefs.rmSync(at('/out/plan.txt'))
    nodefs.symlinkSync(at('/precious'), at('/out/plan.txt'))
    await expect(renderLab(lab, {out: '/out'}, ctx)).rejects.toMatchObject({code: 'UNSAFE_PATH', message: expect.stringContaining('/out/plan.txt')})
    expect(nodefs.readFileSync(at('/precious'), 'utf8')).toBe('secret\n')
    expect(modeOf(at('/precious'))).toBe(0o600)
  })
})

describe('an unwritable state directory', () => {
  it('ENOSPC while writing the lock: a coded error naming the directory and the fix, no temp file left', async () => {
    const {fs} = root()
    const full = new Proxy(fs, {
      get(target, prop, receiver) {
        if (prop === 'writeFile') {
          return async (p: string, content: string, options?: {exclusive?: boolean}) => {
            await target.writeFile(p, '', options)
            if (options?.exclusive) await target.remove(p)
            throw Object.assign(new Error(`ENOSPC: no space left on device, write`), {code: 'ENOSPC'})
          }
        }
        const value = Reflect.get(target, prop, receiver) as unknown
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const {acquireLock} = await import('../../src/apply/lock.js')
    await expect(acquireLock(full, '/state', 'x')).rejects.toMatchObject({code: 'STATE_DIR_UNWRITABLE', message: expect.stringMatching(/\/state\/x .*no space/), hint: expect.stringMatching(/Free space/)})
    expect(await fs.readdir('/state/x')).toEqual([])
  })
})

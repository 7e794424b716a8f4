import * as nodefs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {JournalStore, journalPath, readJournal} from '../../src/apply/journal.js'
import {acquireLock, lockPath} from '../../src/apply/lock.js'
import {RootedFs} from '../../src/host/fs.js'

const roots: string[] = []
function root(): RootedFs {
  const dir = nodefs.mkdtempSync(path.join(os.tmpdir(), 'virtlab-journal-'))
  roots.push(dir)
  return new RootedFs(dir)
}
afterEach(() => {
  for (const r of roots.splice(0)) nodefs.rmSync(r, {recursive: true, force: true})
})

const header = {lab: 'x', file: '/labs/x.yaml', driver: 'qemu' as const, netns: 'vl-x', runDir: '/run/virtlab/x', params: {a: 1}, degraded: []}

describe('journal', () => {
  it('concurrent appends are serialised into one valid file, written atomically (no temp file left)', async () => {
    const fs = root()
    const store = await JournalStore.open(fs, '/state', header)
    await Promise.all(Array.from({length: 25}, (_, i) => store.append({stepId: `s${i}`, title: `t${i}`, phase: 'host', undo: [{kind: 'exec', argv: ['undo', String(i)]}]})))
    const read = await readJournal(fs, '/state', 'x')
    expect(read.state).toBe('ok')
    if (read.state !== 'ok') return
    expect(read.journal.entries.map((e) => e.stepId)).toEqual(Array.from({length: 25}, (_, i) => `s${i}`))
    expect(read.journal).toMatchObject({version: 1, ...header})
    expect(await fs.readdir('/state/x')).toEqual(['journal.json'])
    expect(((await fs.stat('/state/x'))?.mode ?? 0) & 0o777).toBe(0o700)
    expect(((await fs.stat(journalPath('/state', 'x')))?.mode ?? 0) & 0o777).toBe(0o600)
    await store.remove('s3')
    expect((await readJournal(fs, '/state', 'x')).state === 'ok' && (await store.entries()).length).toBe(24)
    await store.delete()
    expect((await readJournal(fs, '/state', 'x')).state).toBe('absent')
  })

  it('an existing state dir keeps its mode; a re-open keeps existing entries; corrupt files are reported, not thrown', async () => {
    const fs = root()
    await fs.mkdir('/state', {mode: 0o755})
    const a = await JournalStore.open(fs, '/state', header)
    await a.append({stepId: 'one', title: 'one', phase: 'host', undo: []})
    const b = await JournalStore.open(fs, '/state', {...header, params: {a: 2}})
    expect(b.has('one')).toBe(true)
    expect(((await fs.stat('/state'))?.mode ?? 0) & 0o777).toBe(0o755)
    for (const bad of ['{', '[]', '{"version":1,"lab":"x","runDir":"/r","driver":"qemu","entries":[{"stepId":1}]}', '{"version":9}']) {
      await fs.writeFile(journalPath('/state', 'x'), bad)
      const r = await readJournal(fs, '/state', 'x')
      expect(r.state).toBe('corrupt')
      await expect(JournalStore.open(fs, '/state', header)).rejects.toMatchObject({code: 'JOURNAL_CORRUPT'})
    }
  })
})

describe('lock', () => {
  it('is exclusive per lab, holds the pid, is released, and a stale one is taken over', async () => {
    const fs = root()
    const lock = await acquireLock(fs, '/state', 'x')
    expect(JSON.parse(await fs.readFile(lockPath('/state', 'x')))).toMatchObject({pid: process.pid, host: expect.any(String), nonce: expect.any(String)})
    await expect(acquireLock(fs, '/state', 'x')).rejects.toMatchObject({code: 'LAB_LOCKED', details: {pid: process.pid}})
    const other = await acquireLock(fs, '/state', 'y')
    await other.release()
    await lock.release()
    expect(await fs.exists(lockPath('/state', 'x'))).toBe(false)
    // A lock left by a dead process (no /proc/<pid> under this root) is stale.
    await fs.writeFile(lockPath('/state', 'x'), '4242\n')
    const taken = await acquireLock(fs, '/state', 'x')
    expect(taken.pid).toBe(process.pid)
    await taken.release()
    // A live holder (its /proc entry exists) is respected.
    await fs.mkdir('/proc/4242')
    await fs.writeFile(lockPath('/state', 'x'), '4242\n')
    await expect(acquireLock(fs, '/state', 'x')).rejects.toThrow(/locked by process 4242/)
  })

  it('records host and pid; a lock from another host is refused naming it; a reused pid (other start time) is stale', async () => {
    const fs = root()
    await fs.mkdir('/proc/sys/kernel')
    await fs.writeFile('/proc/sys/kernel/hostname', 'labhost\n')
    await fs.mkdir('/state/x', {mode: 0o700})
    await fs.writeFile(lockPath('/state', 'x'), JSON.stringify({pid: 77, host: 'elsewhere'}) + '\n')
    await expect(acquireLock(fs, '/state', 'x')).rejects.toMatchObject({code: 'LAB_LOCKED', details: {pid: 77, host: 'elsewhere'}})
    // pid 77 is alive here, but it is not the process that took the lock (another start time).
    await fs.mkdir('/proc/77')
    await fs.writeFile('/proc/77/stat', '77 (bash) S 1 77 77 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5555 1 1\n')
    await fs.writeFile(lockPath('/state', 'x'), JSON.stringify({pid: 77, host: 'labhost', start: '1234'}) + '\n')
    const taken = await acquireLock(fs, '/state', 'x')
    expect(JSON.parse(await fs.readFile(lockPath('/state', 'x')))).toMatchObject({pid: process.pid, host: 'labhost'})
    await taken.release()
    // Same start time: the holder is alive.
    await fs.writeFile(lockPath('/state', 'x'), JSON.stringify({pid: 77, host: 'labhost', start: '5555'}) + '\n')
    await expect(acquireLock(fs, '/state', 'x')).rejects.toThrow(/locked by process 77 on host labhost/)
    // Nothing but the lock is left in the lab's directory (no temp or claim files).
    expect(await fs.readdir('/state/x')).toEqual(['lock'])
  })
})

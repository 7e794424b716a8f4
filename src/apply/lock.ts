/**
 * One `up`/`down` per lab at a time: <stateDir>/<lab>/lock, created exclusively, holding the
 * holder's pid. A lock whose pid is no longer alive (/proc/<pid> gone) is stale and taken over.
 * Different labs have different locks, so they can be brought up at the same time.
 */
import {VirtlabError} from '../errors.js'
import {errnoCode, type HostFs} from '../host/fs.js'
import {ensureLabStateDir, labStateDir} from './journal.js'

export interface LabLock {
  lab: string
  path: string
  pid: number
  release(): Promise<void>
}

export function lockPath(stateDir: string, lab: string): string {
  return `${labStateDir(stateDir, lab)}/lock`
}

async function pidAlive(fs: HostFs, pid: number): Promise<boolean> {
  if (pid === process.pid) return true
  return fs.exists(`/proc/${pid}`)
}

export async function acquireLock(fs: HostFs, stateDir: string, lab: string, pid = process.pid): Promise<LabLock> {
  await ensureLabStateDir(fs, stateDir, lab)
  const path = lockPath(stateDir, lab)
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(path, `${pid}\n`, {exclusive: true, mode: 0o600})
      let released = false
      return {
        lab,
        path,
        pid,
        async release() {
          if (released) return
          released = true
          const holder = (await fs.tryReadFile(path))?.trim()
          if (holder === String(pid)) await fs.remove(path)
        },
      }
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error
    }
    const text = (await fs.tryReadFile(path))?.trim() ?? ''
    const holder = /^\d+$/.test(text) ? Number(text) : undefined
    if (holder !== undefined && (await pidAlive(fs, holder))) {
      throw new VirtlabError('LAB_LOCKED', `lab ${lab} is locked by process ${holder} (another virtlab up/down is running)`, {
        hint: `Wait for process ${holder} to finish. If it is not virtlab, remove ${path}.`,
        details: {pid: holder, lock: path},
      })
    }
    // Stale (holder gone) or unreadable: take it over.
    await fs.remove(path)
  }
  throw new VirtlabError('LAB_LOCKED', `could not take the lock of lab ${lab} (${path} keeps reappearing)`, {details: {lock: path}})
}

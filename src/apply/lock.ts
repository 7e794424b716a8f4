/**
 * One `up`/`down` per lab at a time: <stateDir>/<lab>/lock on the target, created exclusively,
 * holding the holder's pid on the target (line 1) and who holds it (line 2: `host <label>`). A
 * lock whose pid is no longer alive on the target (/proc/<pid> gone, read through the target's
 * fs) is stale and taken over.
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

async function pidAlive(fs: HostFs, pid: number, self: number): Promise<boolean> {
  if (pid === self) return true
  return fs.exists(`/proc/${pid}`)
}

/** The holder pid of a lock file's text (line 1), undefined when it holds none. */
export function lockHolderPid(text: string | undefined): number | undefined {
  const first = text?.split('\n')[0]?.trim() ?? ''
  return /^\d+$/.test(first) ? Number(first) : undefined
}

/** Who holds a lock (line 2 `host <label>`), if recorded. */
export function lockHolderHost(text: string | undefined): string | undefined {
  const m = /^host (.+)$/m.exec(text ?? '')
  return m?.[1]
}

/**
 * Take the lab's lock. `pid` is a process on the target that lives as long as this run (locally
 * virtlab itself; over SSH its session on the target); `holder` says who holds it (host and pid
 * of the virtlab process), for the LAB_LOCKED message.
 */
export async function acquireLock(fs: HostFs, stateDir: string, lab: string, pid = process.pid, holder?: string): Promise<LabLock> {
  await ensureLabStateDir(fs, stateDir, lab)
  const path = lockPath(stateDir, lab)
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(path, `${pid}\n${holder === undefined ? '' : `host ${holder.replace(/[\r\n]/g, ' ')}\n`}`, {exclusive: true, mode: 0o600})
      let released = false
      return {
        lab,
        path,
        pid,
        async release() {
          if (released) return
          released = true
          if (lockHolderPid(await fs.tryReadFile(path)) === pid) await fs.remove(path)
        },
      }
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error
    }
    const text = await fs.tryReadFile(path)
    const holderPid = lockHolderPid(text)
    if (holderPid !== undefined && (await pidAlive(fs, holderPid, pid))) {
      const by = lockHolderHost(text)
      throw new VirtlabError('LAB_LOCKED', `lab ${lab} is locked by process ${holderPid}${by === undefined ? '' : ` (${by})`} (another virtlab up/down is running)`, {
        hint: `Wait for process ${holderPid} to finish. If it is not virtlab, remove ${path}.`,
        details: {pid: holderPid, lock: path, ...(by === undefined ? {} : {holder: by})},
      })
    }
    // Stale (holder gone) or unreadable: take it over.
    await fs.remove(path)
  }
  throw new VirtlabError('LAB_LOCKED', `could not take the lock of lab ${lab} (${path} keeps reappearing)`, {details: {lock: path}})
}

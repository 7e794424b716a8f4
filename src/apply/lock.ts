/**
 * One `up`/`down` per lab at a time: <stateDir>/<lab>/lock. Acquisition is atomic: the complete
 * lock record ({pid, host, start, nonce}) is written to a fresh temp file (O_EXCL, random name)
 * and then hard-linked to the lock path (link(2) never replaces an existing file), so nobody ever
 * sees a partial or empty lock. A lock whose holder is gone (same host, /proc/<pid> missing or a
 * different process start time) is stale. Taking it over is atomic too: the first process to
 * create the claim file `lock.takeover-<hash of the stale record>` (link(2) again) re-checks that
 * the lock still holds exactly that stale record and then rename(2)s its own record over it;
 * everyone else sees the claim or the new record and is refused, naming the holder.
 * Different labs have different locks, so they can be brought up at the same time.
 */
import {randomBytes} from 'node:crypto'

import {VirtlabError} from '../errors.js'
import {errnoCode, type HostFs} from '../host/fs.js'
import {sha256} from '../util/hash.js'
import {ensureLabStateDir, labStateDir, stateDirError} from './journal.js'

export interface LabLock {
  lab: string
  path: string
  pid: number
  host: string
  release(): Promise<void>
}

/** What a lock file holds. Old locks hold only "<pid>\n" (host unknown: this host). */
export interface LockRecord {
  pid: number
  host: string | undefined
  /** The holder's start time (field 22 of /proc/<pid>/stat): tells a reused pid from the holder. */
  start?: string | undefined
  nonce?: string | undefined
  /** Who holds it: the virtlab process and the machine it runs on (over SSH not the target). */
  holder?: string | undefined
}

export function lockPath(stateDir: string, lab: string): string {
  return `${labStateDir(stateDir, lab)}/lock`
}

/** The target's host name (the lock's host field). */
export async function lockHostName(fs: HostFs): Promise<string> {
  return (await fs.tryReadFile('/proc/sys/kernel/hostname').catch(() => undefined))?.trim() || 'localhost'
}

async function procStart(fs: HostFs, pid: number): Promise<string | undefined> {
  const stat = await fs.tryReadFile(`/proc/${pid}/stat`).catch(() => undefined)
  if (stat === undefined) return undefined
  // comm (field 2) may contain spaces and parentheses: count fields after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return rest[19]
}

export function parseLockRecord(text: string): LockRecord | undefined {
  const trimmed = text.trim()
  if (/^\d+$/.test(trimmed)) return {pid: Number(trimmed), host: undefined}
  try {
    const data = JSON.parse(trimmed) as Record<string, unknown>
    if (typeof data !== 'object' || data === null || !Number.isSafeInteger(data.pid) || (data.pid as number) <= 0) return undefined
    if (typeof data.host !== 'string' || data.host === '') return undefined
    return {
      pid: data.pid as number,
      host: data.host,
      start: typeof data.start === 'string' ? data.start : undefined,
      nonce: typeof data.nonce === 'string' ? data.nonce : undefined,
      holder: typeof data.holder === 'string' ? data.holder : undefined,
    }
  } catch {
    return undefined
  }
}

/** The live holder of a lab's lock, or undefined (no lock, or a stale one). */
export async function readLockHolder(fs: HostFs, stateDir: string, lab: string): Promise<LockRecord | undefined> {
  const text = await fs.tryReadFile(lockPath(stateDir, lab)).catch(() => undefined)
  const record = text === undefined ? undefined : parseLockRecord(text)
  if (record === undefined) return undefined
  const host = await lockHostName(fs)
  if (record.host !== undefined && record.host !== host) return record
  return (await holderAlive(fs, record)) ? record : undefined
}

async function holderAlive(fs: HostFs, record: LockRecord): Promise<boolean> {
  if (record.pid === process.pid) return true
  if (!(await fs.exists(`/proc/${record.pid}`))) return false
  if (record.start === undefined) return true
  const start = await procStart(fs, record.pid)
  return start === undefined || start === record.start
}

function lockedError(lab: string, path: string, record: LockRecord, otherHost: boolean): VirtlabError {
  const where = (record.host === undefined ? '' : ` on host ${record.host}`) + (record.holder === undefined ? '' : ` (${record.holder})`)
  return new VirtlabError('LAB_LOCKED', `lab ${lab} is locked by process ${record.pid}${where} (another virtlab up/down is running)`, {
    hint: otherHost
      ? `The lock was taken on another host (${record.host ?? '?'}); virtlab cannot tell whether it is still running. If it is not, remove ${path}.`
      : `Wait for process ${record.pid} to finish. If it is not virtlab, remove ${path}.`,
    details: {pid: record.pid, host: record.host, lock: path, ...(record.holder === undefined ? {} : {holder: record.holder})},
  })
}

/** Write `content` to a new file with a random name next to `path` (O_EXCL: never an existing file). */
async function writeTemp(fs: HostFs, path: string, tag: string, content: string): Promise<string> {
  const temp = `${path}.${tag}-${randomBytes(8).toString('hex')}`
  try {
    await fs.writeFile(temp, content, {exclusive: true, mode: 0o600})
  } catch (error) {
    throw stateDirError(error, path.slice(0, path.lastIndexOf('/')), 'write the lab lock')
  }
  return temp
}

async function tryLink(fs: HostFs, from: string, to: string): Promise<boolean> {
  try {
    await fs.link(from, to)
    return true
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false
    throw error
  }
}

/**
 * Take the lab's lock. `pid` is a process on the target that lives as long as this run (locally
 * virtlab itself; over SSH its session on the target); `holder` says who holds it (host and pid
 * of the virtlab process), for the LAB_LOCKED message.
 */
export async function acquireLock(fs: HostFs, stateDir: string, lab: string, pid = process.pid, holder?: string): Promise<LabLock> {
  await ensureLabStateDir(fs, stateDir, lab)
  const path = lockPath(stateDir, lab)
  const host = await lockHostName(fs)
  const nonce = randomBytes(12).toString('hex')
  const start = await procStart(fs, pid)
  const content = JSON.stringify({pid, host, ...(start === undefined ? {} : {start}), nonce, ...(holder === undefined ? {} : {holder: holder.replace(/[\r\n]/g, ' ')})}) + '\n'
  const lock: LabLock = {
    lab,
    path,
    pid,
    host,
    async release() {
      if (released) return
      released = true
      // Only the holder (alive) can be taken over by nobody: what is there is ours or gone.
      if ((await fs.tryReadFile(path).catch(() => undefined)) === content) await fs.remove(path)
    },
  }
  let released = false
  for (let attempt = 0; attempt < 5; attempt++) {
    const temp = await writeTemp(fs, path, 'new', content)
    try {
      if (await tryLink(fs, temp, path)) return lock
    } finally {
      await fs.remove(temp)
    }
    const text = await fs.tryReadFile(path)
    if (text === undefined) continue // released meanwhile: try again
    const record = parseLockRecord(text)
    if (record === undefined) {
      throw new VirtlabError('LAB_LOCKED', `lab ${lab} has an unreadable lock ${path}`, {
        hint: `Another virtlab may hold it. If no virtlab up/down of ${lab} is running, remove ${path}.`,
        details: {lock: path},
      })
    }
    if (record.host !== undefined && record.host !== host) throw lockedError(lab, path, record, true)
    if (await holderAlive(fs, record)) throw lockedError(lab, path, record, false)
    // Stale: claim the takeover of exactly this record.
    const claim = `${path}.takeover-${sha256(text).slice(0, 16)}`
    const mine = await writeTemp(fs, path, 'new', content)
    let claimed = false
    try {
      claimed = await tryLink(fs, mine, claim)
      if (!claimed) {
        const claimant = parseLockRecord((await fs.tryReadFile(claim).catch(() => undefined)) ?? '')
        if (claimant !== undefined && (await holderAlive(fs, claimant))) throw lockedError(lab, path, claimant, false)
        if (claimant === undefined) continue // the claim is gone again: its owner finished the takeover
        throw new VirtlabError('LAB_LOCKED', `lab ${lab}: a takeover of its stale lock by process ${claimant.pid} was interrupted`, {
          hint: `No virtlab holds it: remove ${claim} and ${path}.`,
          details: {pid: claimant.pid, lock: path, claim},
        })
      }
      // The claim is ours: nobody else can replace this stale record; the lock cannot vanish
      // meanwhile except by its (dead) holder. Re-check, then replace atomically.
      if ((await fs.tryReadFile(path)) === text) {
        await fs.rename(mine, path)
        return lock
      }
    } finally {
      if (claimed) await fs.remove(claim)
      await fs.remove(mine)
    }
  }
  throw new VirtlabError('LAB_LOCKED', `could not take the lock of lab ${lab} (${path} keeps changing)`, {details: {lock: path}})
}

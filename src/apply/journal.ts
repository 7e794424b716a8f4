/**
 * The per-lab journal: what `up` created, in the order it completed, each step with its undo
 * already resolved (late-bound tokens filled in, previous file contents / command output recorded).
 * `down` replays it in reverse from the journal alone. Written atomically (temp + fsync + rename)
 * after every completed step, so a crash leaves a journal that names everything created so far.
 */
import {VirtlabError} from '../errors.js'
import type {StartedDaemon} from '../host/daemons.js'
import type {HostFs} from '../host/fs.js'
import type {Action, Phase} from '../plan/step.js'

export const JOURNAL_VERSION = 1
/** More steps than any lab the schema allows compiles to (the largest shipped lab has under 100). */
export const MAX_JOURNAL_ENTRIES = 4096

export interface JournalEntry {
  stepId: string
  title: string
  phase: Phase
  /** The undo, resolved: the actions to run, in order (empty: nothing to undo). */
  undo: Action[]
}

export interface JournalHeader {
  lab: string
  /** The lab file it came from. */
  file: string
  driver: 'libvirt' | 'qemu'
  netns: string | undefined
  runDir: string
  params: Record<string, string | number | boolean>
  degraded: string[]
  /**
   * Daemons `up` started because the lab needed them (virtlogd, libvirtd). `down` leaves them
   * running; they are recorded so whoever wants can stop exactly these (stopStartedDaemons).
   */
  startedDaemons?: StartedDaemon[]
}

export interface Journal extends JournalHeader {
  version: number
  entries: JournalEntry[]
}

export function labStateDir(stateDir: string, lab: string): string {
  return `${stateDir.replace(/\/+$/, '')}/${lab}`
}

export function journalPath(stateDir: string, lab: string): string {
  return `${labStateDir(stateDir, lab)}/journal.json`
}

/**
 * Create <stateDir>/<lab> with mode 0700 (journal and lock are root's only). <stateDir> itself is
 * created 0755 when missing and otherwise left as it is: the guest image under <stateDir>/images
 * must stay reachable for QEMU run by libvirt as libvirt-qemu.
 */
export async function ensureLabStateDir(fs: HostFs, stateDir: string, lab: string): Promise<string> {
  const dir = labStateDir(stateDir, lab)
  if (!(await fs.exists(stateDir))) await fs.mkdir(stateDir, {mode: 0o755})
  await fs.mkdir(dir, {mode: 0o700})
  return dir
}

/** Remove <stateDir>/<lab> when nothing is left in it (no journal, no lock). */
export async function removeLabStateDirIfEmpty(fs: HostFs, stateDir: string, lab: string): Promise<void> {
  const dir = labStateDir(stateDir, lab)
  if ((await fs.stat(dir))?.isDirectory && (await fs.readdir(dir)).length === 0) await fs.remove(dir, {recursive: true})
}

export type JournalRead =
  | {state: 'absent'}
  | {state: 'ok'; journal: Journal}
  | {state: 'corrupt'; reason: string}

function isAction(value: unknown): value is Action {
  if (typeof value !== 'object' || value === null) return false
  const kind = (value as {kind?: unknown}).kind
  return kind === 'exec' || kind === 'write' || kind === 'mkdir' || kind === 'file' || kind === 'remove' || kind === 'wait'
}

function validate(data: unknown): Journal | string {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'not a JSON object'
  const j = data as Record<string, unknown>
  if (j.version !== JOURNAL_VERSION) return `unknown journal version ${String(j.version)}`
  if (typeof j.lab !== 'string' || typeof j.runDir !== 'string') return 'missing lab or runDir'
  if (j.driver !== 'libvirt' && j.driver !== 'qemu') return 'missing driver'
  if (!Array.isArray(j.entries)) return 'missing entries'
  // down rewrites the journal after each undone entry: bounded, so a hostile journal cannot make it take hours.
  if (j.entries.length > MAX_JOURNAL_ENTRIES) return `${j.entries.length} entries (a journal holds at most ${MAX_JOURNAL_ENTRIES})`
  for (const [i, e] of j.entries.entries()) {
    const entry = e as Record<string, unknown> | null
    if (typeof entry !== 'object' || entry === null || typeof entry.stepId !== 'string' || !Array.isArray(entry.undo) || !entry.undo.every(isAction)) {
      return `entry ${i} is malformed`
    }
  }
  return data as Journal
}

/** Read a lab's journal: absent, ok, or corrupt (never throws for a bad file). */
export async function readJournal(fs: HostFs, stateDir: string, lab: string): Promise<JournalRead> {
  const text = await fs.tryReadFile(journalPath(stateDir, lab))
  if (text === undefined) return {state: 'absent'}
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (error) {
    return {state: 'corrupt', reason: `not JSON (${error instanceof Error ? error.message : String(error)})`}
  }
  const result = validate(data)
  return typeof result === 'string' ? {state: 'corrupt', reason: result} : {state: 'ok', journal: result}
}

/**
 * A journal being written by one process (the lock guarantees that). Writes are serialised: the
 * executor's parallel workers append through the same store, and each write replaces the whole
 * file atomically.
 */
export class JournalStore {
  private queue: Promise<void> = Promise.resolve()

  private constructor(
    private readonly fs: HostFs,
    private readonly stateDir: string,
    private journal: Journal,
  ) {}

  /** Open the lab's journal for writing, keeping existing entries; the header is refreshed from `header`. */
  static async open(fs: HostFs, stateDir: string, header: JournalHeader): Promise<JournalStore> {
    await ensureLabStateDir(fs, stateDir, header.lab)
    const existing = await readJournal(fs, stateDir, header.lab)
    if (existing.state === 'corrupt') {
      throw new VirtlabError('JOURNAL_CORRUPT', `the journal of lab ${header.lab} is unreadable: ${existing.reason}`, {
        hint: `Run \`virtlab down ${header.lab} --force\` to remove everything the lab left behind, then \`up\` again.`,
      })
    }
    const entries = existing.state === 'ok' ? existing.journal.entries : []
    const store = new JournalStore(fs, stateDir, {version: JOURNAL_VERSION, ...header, entries})
    await store.flush()
    return store
  }

  /** Wrap a journal that was read (for `down`). */
  static fromJournal(fs: HostFs, stateDir: string, journal: Journal): JournalStore {
    return new JournalStore(fs, stateDir, structuredClone(journal))
  }

  get lab(): string {
    return this.journal.lab
  }

  snapshot(): Journal {
    return structuredClone(this.journal)
  }

  entries(): JournalEntry[] {
    return structuredClone(this.journal.entries)
  }

  has(stepId: string): boolean {
    return this.journal.entries.some((e) => e.stepId === stepId)
  }

  get(stepId: string): JournalEntry | undefined {
    const entry = this.journal.entries.find((e) => e.stepId === stepId)
    return entry === undefined ? undefined : structuredClone(entry)
  }

  /** Append a completed step (or replace the entry with the same id) and write the journal. */
  async append(entry: JournalEntry): Promise<void> {
    const index = this.journal.entries.findIndex((e) => e.stepId === entry.stepId)
    if (index >= 0) this.journal.entries[index] = structuredClone(entry)
    else this.journal.entries.push(structuredClone(entry))
    await this.flush()
  }

  /** Drop an undone entry and write the journal. */
  async remove(stepId: string): Promise<void> {
    this.journal.entries = this.journal.entries.filter((e) => e.stepId !== stepId)
    await this.flush()
  }

  /** Remove the journal file (everything was undone). */
  async delete(): Promise<void> {
    await this.enqueue(() => this.fs.remove(journalPath(this.stateDir, this.journal.lab)))
  }

  private async flush(): Promise<void> {
    const text = JSON.stringify(this.journal, null, 2) + '\n'
    await this.enqueue(() => this.fs.writeFile(journalPath(this.stateDir, this.journal.lab), text, {atomic: true, mode: 0o600}))
  }

  private enqueue(write: () => Promise<void>): Promise<void> {
    const next = this.queue.then(write)
    this.queue = next.catch(() => {})
    return next
  }
}

/**
 * The per-lab journal: what `up` created, in the order it completed, each step with its undo
 * already resolved (late-bound tokens filled in, previous file contents / command output recorded).
 * `down` replays it in reverse from the journal alone. Written atomically (temp + fsync + rename)
 * after every completed step, so a crash leaves a journal that names everything created so far.
 */
import {posix} from 'node:path'

import {Type} from '@sinclair/typebox'
import {Ajv, type ValidateFunction} from 'ajv'

import {derivedLinkTag, labTag, netnsName} from '../compile/ids.js'
import {VirtlabError} from '../errors.js'
import type {StartedDaemon} from '../host/daemons.js'
import {errnoCode, type HostFs} from '../host/fs.js'
import {DPDK_RUNTIME_BASE} from '../switches/ovs.js'
import type {Action, Phase} from '../plan/step.js'

export const JOURNAL_VERSION = 1
/**
 * Entries a journal may hold: more steps than a lab compiles to (the largest shipped lab has under
 * 100). down rewrites the journal after each undone entry, so the bound also bounds its time: a
 * 20,000-entry journal took the fuzzer's down 50 s.
 */
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
  /**
   * The identifiers derived for the lab (its tag, the link names virtlab may create, the NICs'
   * MACs): `up` of another lab refuses to collide with them, `down --force` removes links by
   * these exact names.
   */
  identifiers?: LabIdentifiers
}

export interface LabIdentifiers {
  tag: string
  links: string[]
  macs: string[]
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
  // Never through a symbolic link; an existing directory must be root's and not writable by others.
  try {
    await fs.mkdir(stateDir, {mode: 0o755, keepExisting: true, secure: true})
    await fs.mkdir(dir, {mode: 0o700, secure: true})
  } catch (error) {
    throw stateDirError(error, stateDir, `create ${dir}`)
  }
  return dir
}

const UNWRITABLE: Record<string, string> = {ENOSPC: 'no space left on its filesystem', EDQUOT: 'over quota', EROFS: 'on a read-only filesystem', EACCES: 'not writable', EPERM: 'not writable'}

/** ENOSPC / EROFS / EACCES on the state directory as a coded error naming the path and the fix; others unchanged. */
export function stateDirError(error: unknown, stateDir: string, what: string): unknown {
  const code = errnoCode(error)
  if (code === undefined || UNWRITABLE[code] === undefined) return error
  return new VirtlabError('STATE_DIR_UNWRITABLE', `cannot ${what}: the state directory ${stateDir} is ${UNWRITABLE[code]} (${code})`, {
    hint: code === 'ENOSPC' || code === 'EDQUOT'
      ? `Free space on the filesystem of ${stateDir}, or use another state directory (--state-dir / VIRTLAB_STATE_DIR).`
      : `Make ${stateDir} writable by root, or use another state directory (--state-dir / VIRTLAB_STATE_DIR).`,
    details: {stateDir, errno: code},
    cause: error,
  })
}

/** Remove <stateDir>/<lab> when nothing is left in it (no journal, no lock). */
export async function removeLabStateDirIfEmpty(fs: HostFs, stateDir: string, lab: string): Promise<void> {
  const dir = labStateDir(stateDir, lab)
  if ((await fs.stat(dir))?.isDirectory && (await fs.readdir(dir)).length === 0) await fs.remove(dir, {recursive: true})
}

/** Why a journal is not used: a stable code and the reason in words. */
export type JournalProblemCode =
  | 'JOURNAL_NOT_A_FILE'
  | 'JOURNAL_UNREADABLE'
  | 'JOURNAL_TOO_LARGE'
  | 'JOURNAL_NOT_JSON'
  | 'JOURNAL_VERSION'
  | 'JOURNAL_SCHEMA'
  | 'JOURNAL_LAB_MISMATCH'
  | 'JOURNAL_RUN_DIR'
  | 'JOURNAL_NETNS'
  | 'JOURNAL_UNSAFE_ACTION'
  | 'JOURNAL_IDENTIFIERS'

export type JournalRead =
  | {state: 'absent'}
  | {state: 'ok'; journal: Journal}
  | {state: 'corrupt'; code: JournalProblemCode; reason: string}

/** A journal larger than this is not read (ours are a few hundred KiB at most). */
export const MAX_JOURNAL_BYTES = 16 * 1024 * 1024

const LAB_NAME = '^[a-z0-9][a-z0-9-]{0,62}$'
const Text = Type.String({maxLength: 1 << 20})
const AbsPath = Type.String({pattern: '^/', maxLength: 4096})
const Argv = Type.Array(Type.String({maxLength: 1 << 17}), {minItems: 1, maxItems: 4096})
const Mode = Type.Integer({minimum: 0, maximum: 0o7777})
const Ms = Type.Integer({minimum: 0, maximum: 86_400_000})
const strict = {additionalProperties: false} as const

const CheckSchema = Type.Recursive((This) => Type.Union([
  Type.Object({kind: Type.Literal('exec-ok'), argv: Argv}, strict),
  Type.Object({kind: Type.Literal('exec-stdout'), argv: Argv, pattern: Text}, strict),
  Type.Object({kind: Type.Literal('file-exists'), path: AbsPath}, strict),
  Type.Object({kind: Type.Literal('file-equals'), path: AbsPath, value: Text}, strict),
  Type.Object({kind: Type.Literal('not'), check: This}, strict),
  Type.Object({kind: Type.Literal('all'), checks: Type.Array(This, {maxItems: 256})}, strict),
  Type.Object({kind: Type.Literal('any'), checks: Type.Array(This, {maxItems: 256})}, strict),
]), {$id: 'JournalCheck'})

const ActionSchema = Type.Union([
  Type.Object({
    kind: Type.Literal('exec'),
    argv: Argv,
    timeoutMs: Type.Optional(Ms),
    input: Type.Optional(Text),
    okExitCodes: Type.Optional(Type.Array(Type.Integer({minimum: 0, maximum: 255}), {maxItems: 256})),
    env: Type.Optional(Type.Record(Type.String({pattern: '^[A-Za-z_][A-Za-z0-9_]*$'}), Text)),
  }, strict),
  Type.Object({kind: Type.Literal('write'), path: AbsPath, value: Text}, strict),
  Type.Object({kind: Type.Literal('mkdir'), path: AbsPath, mode: Mode, owner: Type.Optional(Type.Object({user: Type.String({maxLength: 64}), group: Type.String({maxLength: 64})}, strict))}, strict),
  Type.Object({kind: Type.Literal('file'), path: AbsPath, content: Type.String({maxLength: 8 << 20}), mode: Mode}, strict),
  Type.Object({kind: Type.Literal('remove'), path: AbsPath, recursive: Type.Optional(Type.Boolean())}, strict),
  Type.Object({
    kind: Type.Literal('wait'),
    what: Text,
    until: Type.Ref('JournalCheck'),
    timeoutMs: Ms,
    intervalMs: Type.Optional(Ms),
    failIf: Type.Optional(Type.Ref('JournalCheck')),
    failMessage: Type.Optional(Text),
  }, strict),
])

/** The journal file's schema (version 1). */
export const JournalSchema = Type.Object({
  version: Type.Literal(JOURNAL_VERSION),
  lab: Type.String({pattern: LAB_NAME}),
  file: Type.String({maxLength: 4096}),
  driver: Type.Union([Type.Literal('libvirt'), Type.Literal('qemu')]),
  netns: Type.Optional(Type.String({pattern: '^vl-[a-z0-9][a-z0-9-]*$'})),
  runDir: AbsPath,
  params: Type.Record(Type.String({maxLength: 256}), Type.Union([Type.String({maxLength: 65536}), Type.Number(), Type.Boolean()])),
  degraded: Type.Array(Type.String({maxLength: 4096}), {maxItems: 256}),
  startedDaemons: Type.Optional(Type.Array(Type.Object({
    name: Type.Union([Type.Literal('virtlogd'), Type.Literal('libvirtd'), Type.Literal('ovs')]),
    pid: Type.Optional(Type.Integer({minimum: 1})),
    pidfile: Type.Optional(AbsPath),
    stopArgv: Type.Optional(Argv),
  }, strict), {maxItems: 16})),
  identifiers: Type.Optional(Type.Object({
    tag: Type.String({pattern: '^[a-z0-9]{1,16}$'}),
    links: Type.Array(Type.String({pattern: '^[A-Za-z0-9_.-]{1,15}$'}), {maxItems: 2048}),
    macs: Type.Array(Type.String({pattern: '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$'}), {maxItems: 2048}),
  }, strict)),
  entries: Type.Array(Type.Object({
    stepId: Type.String({minLength: 1, maxLength: 512}),
    title: Type.String({maxLength: 4096}),
    phase: Type.Union(['host', 'devices', 'switch', 'vm', 'guest'].map((p) => Type.Literal(p))),
    undo: Type.Array(ActionSchema, {maxItems: 256}),
  }, strict), {maxItems: MAX_JOURNAL_ENTRIES}),
}, strict)

let journalValidator: ValidateFunction | undefined
function schemaProblems(data: unknown): string[] {
  if (journalValidator === undefined) {
    const ajv = new Ajv({strict: true, allErrors: false})
    ajv.addSchema(CheckSchema)
    journalValidator = ajv.compile(JournalSchema)
  }
  if (journalValidator(data)) return []
  return (journalValidator.errors ?? []).slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`)
}

/** The run directory `up` derives for a lab: <runBase>/<lab>. */
export function derivedRunDir(runBase: string, lab: string): string {
  return `${runBase.replace(/\/+$/, '')}/${lab}`
}

function isNormalAbsolute(p: string): boolean {
  return p.startsWith('/') && posix.normalize(p) === p && !p.endsWith('/') && !p.split('/').includes('..')
}

export interface JournalExpect {
  /** The run base of this invocation: the journal's runDir must be <runBase>/<lab>. */
  runBase?: string | undefined
  /** Or the exact run directory expected. */
  runDir?: string | undefined
}

type Problem = {code: JournalProblemCode; reason: string}

/** Everything a journal must satisfy before `down` acts on it. */
function validate(data: unknown, lab: string, expect: JournalExpect): Journal | Problem {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return {code: 'JOURNAL_SCHEMA', reason: 'not a JSON object'}
  const version = (data as {version?: unknown}).version
  if (version !== JOURNAL_VERSION) return {code: 'JOURNAL_VERSION', reason: `unknown journal version ${String(version)}`}
  const problems = schemaProblems(data)
  if (problems.length > 0) return {code: 'JOURNAL_SCHEMA', reason: `does not match the journal schema: ${problems.join('; ')}`}
  const j = data as Journal
  if (j.lab !== lab) return {code: 'JOURNAL_LAB_MISMATCH', reason: `it names lab ${JSON.stringify(j.lab)} but lies in the directory of lab ${lab}`}
  const wanted = expect.runDir ?? (expect.runBase === undefined ? undefined : derivedRunDir(expect.runBase, lab))
  if (!isNormalAbsolute(j.runDir) || posix.basename(j.runDir) !== lab || (wanted !== undefined && j.runDir !== wanted)) {
    return {code: 'JOURNAL_RUN_DIR', reason: `its runDir ${JSON.stringify(j.runDir)} is not the run directory of lab ${lab}${wanted === undefined ? '' : ` (${wanted})`}`}
  }
  if (j.netns !== undefined && j.netns !== netnsName(lab)) return {code: 'JOURNAL_NETNS', reason: `its netns ${j.netns} is not lab ${lab}'s (${netnsName(lab)})`}
  if (j.identifiers !== undefined) {
    const tag = labTag(lab)
    const foreign = j.identifiers.links.find((l) => derivedLinkTag(l) !== tag)
    if (j.identifiers.tag !== tag || foreign !== undefined) {
      return {code: 'JOURNAL_IDENTIFIERS', reason: `its identifiers are not lab ${lab}'s (tag ${j.identifiers.tag}${foreign === undefined ? '' : `, link ${foreign}`}; expected tag ${tag})`}
    }
  }
  const dpdkRuntime = `${DPDK_RUNTIME_BASE}/${netnsName(lab)}`
  for (const entry of j.entries) {
    for (const action of entry.undo) {
      if (action.kind !== 'remove' || action.recursive !== true) continue
      const p = action.path
      const inside = isNormalAbsolute(p) && (p === j.runDir || p.startsWith(`${j.runDir}/`) || p === dpdkRuntime)
      if (!inside) return {code: 'JOURNAL_UNSAFE_ACTION', reason: `entry ${entry.stepId} would remove ${JSON.stringify(p)} recursively, outside the lab's run directory`}
    }
  }
  return j
}

/** Read a lab's journal: absent, ok, or corrupt with a code and reason (never throws for a bad file). */
export async function readJournal(fs: HostFs, stateDir: string, lab: string, expect: JournalExpect = {}): Promise<JournalRead> {
  const path = journalPath(stateDir, lab)
  const st = await fs.stat(path)
  if (st === undefined) return {state: 'absent'}
  if (st.isSymlink || !st.isFile) {
    return {state: 'corrupt', code: 'JOURNAL_NOT_A_FILE', reason: `${path} is ${st.isSymlink ? 'a symbolic link' : st.isDirectory ? 'a directory' : 'not a regular file'}`}
  }
  if (st.size > MAX_JOURNAL_BYTES) return {state: 'corrupt', code: 'JOURNAL_TOO_LARGE', reason: `${path} is ${st.size} bytes (more than ${MAX_JOURNAL_BYTES})`}
  let text: string | undefined
  try {
    text = await fs.tryReadFile(path)
  } catch (error) {
    return {state: 'corrupt', code: 'JOURNAL_UNREADABLE', reason: `${path} cannot be read (${errnoCode(error) ?? (error instanceof Error ? error.message : String(error))})`}
  }
  if (text === undefined) return {state: 'absent'}
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (error) {
    return {state: 'corrupt', code: 'JOURNAL_NOT_JSON', reason: `not JSON (${error instanceof Error ? error.message : String(error)})`}
  }
  const result = validate(data, lab, expect)
  return 'code' in result ? {state: 'corrupt', ...result} : {state: 'ok', journal: result}
}

/** The coded error for a corrupt journal (down, up). */
export function journalCorruptError(lab: string, read: {code: JournalProblemCode; reason: string}, hint: string): VirtlabError {
  return new VirtlabError('JOURNAL_CORRUPT', `the journal of lab ${lab} is unusable (${read.code}): ${read.reason}`, {hint, details: {problem: read.code, reason: read.reason}})
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
    const existing = await readJournal(fs, stateDir, header.lab, {runDir: header.runDir})
    if (existing.state === 'corrupt') {
      throw journalCorruptError(header.lab, existing, `Run \`virtlab down ${header.lab} --force\` to remove everything the lab left behind, then \`up\` again.`)
    }
    const entries = existing.state === 'ok' ? existing.journal.entries : []
    const store = new JournalStore(fs, stateDir, {version: JOURNAL_VERSION, ...header, entries})
    try {
      await store.flush()
    } catch (error) {
      throw stateDirError(error, stateDir, `write the journal of lab ${header.lab}`)
    }
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

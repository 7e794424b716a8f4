/**
 * `virtlab down <lab> [--force]` / `down --all`: undo the lab's journal newest first, then remove
 * the journal and the run directory. With --force (and --all) also find and remove everything
 * tagged with the lab (domains, QEMU processes, OVS records, a private OVS, links, the namespace,
 * the run directory) — this works when the journal is lost or corrupt.
 */
import {isReservedLabName, RESERVED_LAB_NAMES} from '../lab/rules.js'
import {createTokenRegistry} from '../apply/tokens.js'
import {describeLeftovers, discoverLabs, findLeftovers, isEmpty, removeLeftovers} from '../apply/leftovers.js'
import {JournalStore, journalCorruptError, journalPath, readJournal, removeLabStateDirIfEmpty} from '../apply/journal.js'
import {acquireLock} from '../apply/lock.js'
import {undoEntries} from '../apply/rollback.js'
import {VirtlabError} from '../errors.js'
import type {Context} from './context.js'

export interface DownOptions {
  /** The lab's name (a lab file path is accepted: its base name without .yaml). */
  lab?: string | undefined
  all?: boolean
  force?: boolean
}

export interface DownLabResult {
  lab: string
  journal: 'ok' | 'absent' | 'corrupt'
  /** Journal steps undone, newest first. */
  undone: string[]
  /** Journal steps whose undo failed (they stay in the journal). */
  notUndone: {stepId: string; error: string}[]
  /** Tagged leftovers removed (--force / --all). */
  removed: string[]
  /** Tagged leftovers that could not be removed. */
  failed: {what: string; error: string}[]
  runDirRemoved: boolean
  notes: string[]
}

export interface DownResult {
  labs: DownLabResult[]
}

/** `down vhost-net`, `down labs/vhost-net.yaml` -> vhost-net. */
export function labNameOf(source: string): string {
  const base = source.split('/').pop() ?? source
  return base.replace(/\.ya?ml$/, '')
}

export async function downLab(ctx: Context, options: DownOptions): Promise<DownResult> {
  if (options.all) {
    const labs = await discoverLabs(ctx)
    const results: DownLabResult[] = []
    for (const lab of labs) results.push(await downOne(ctx, lab, true))
    const failed = results.filter((r) => r.failed.length > 0)
    if (failed.length > 0) throw incomplete(failed, results)
    return {labs: results}
  }
  if (options.lab === undefined) throw new VirtlabError('USAGE', 'name a lab, or use --all', {hint: '`virtlab status` lists the labs that are up'})
  const lab = labNameOf(options.lab)
  if (!/^[a-z0-9][a-z0-9-]*$/.test(lab)) throw new VirtlabError('USAGE', `${lab} is not a lab name`)
  if (isReservedLabName(lab)) throw new VirtlabError('USAGE', `${lab} is a name reserved for virtlab's own state (${ctx.target.stateDir}/${lab}), not a lab`, {hint: `reserved names: ${RESERVED_LAB_NAMES.join(', ')}`})
  const force = options.force ?? false
  const result = await downOne(ctx, lab, force)
  if ((!force && result.notUndone.length > 0) || result.failed.length > 0) throw incomplete([result], [result])
  return {labs: [result]}
}

function incomplete(failed: DownLabResult[], all: DownLabResult[]): VirtlabError {
  const parts = failed.map((r) => `${r.lab}: ${[...r.notUndone.map((n) => `${n.stepId} (${n.error})`), ...r.failed.map((f) => `${f.what} (${f.error})`)].join('; ')}`)
  return new VirtlabError('DOWN_INCOMPLETE', `could not remove everything: ${parts.join(' | ')}`, {
    hint: `The journal keeps what was not undone. Fix the cause and run \`virtlab down ${failed[0]?.lab ?? '<lab>'}\` again, or \`down ${failed[0]?.lab ?? '<lab>'} --force\` to remove tagged leftovers.`,
    details: {labs: all},
  })
}

async function downOne(ctx: Context, lab: string, force: boolean): Promise<DownLabResult> {
  const result: DownLabResult = {lab, journal: 'absent', undone: [], notUndone: [], removed: [], failed: [], runDirRemoved: false, notes: []}
  const lock = await acquireLock(ctx.target.fs, ctx.target.stateDir, lab, ctx.target.session.pid, ctx.target.session.label)
  try {
    const read = await readJournal(ctx.target.fs, ctx.target.stateDir, lab, {runBase: ctx.target.runBase})
    result.journal = read.state
    let runDir = `${ctx.target.runBase.replace(/\/+$/, '')}/${lab}`
    let recordedLinks: string[] | undefined
    if (read.state === 'corrupt') {
      if (!force) {
        throw journalCorruptError(lab, read, `Run \`virtlab down ${lab} --force\` to remove everything tagged with the lab (the journal is not used).`)
      }
      result.notes.push(`journal unusable (${read.code}: ${read.reason}): removing tagged leftovers only`)
    }
    if (read.state === 'ok') {
      runDir = read.journal.runDir
      recordedLinks = read.journal.identifiers?.links
      const journal = JournalStore.fromJournal(ctx.target.fs, ctx.target.stateDir, read.journal)
      const outcome = await undoEntries(ctx, journal, journal.entries().reverse(), undefined, createTokenRegistry())
      result.undone = outcome.undone
      result.notUndone = outcome.failed.map((f) => ({stepId: f.stepId, error: f.error.message}))
      if (outcome.failed.length > 0 && !force) return result
    }
    if (read.state === 'absent' && !force) {
      const leftovers = await findLeftovers(ctx, lab)
      if (!isEmpty(leftovers)) {
        throw new VirtlabError('NO_JOURNAL', `lab ${lab} has no journal, but tagged leftovers exist: ${describeLeftovers(leftovers).join(', ')}`, {
          hint: `Run \`virtlab down ${lab} --force\` to remove them.`,
          details: {leftovers},
        })
      }
      result.notes.push(`lab ${lab} is not up (no journal, nothing tagged found)`)
      return result
    }
    if (force || read.state === 'ok') {
      // After the journal is undone, also what is tagged with the lab but was never journaled: a
      // virtlab killed (SIGKILL) between a step's action and its journal entry leaves e.g. a
      // defined, started domain vl-<lab>-<vm>. Exact tags only (src/apply/leftovers.ts).
      const leftovers = await findLeftovers(ctx, lab, {runDir, links: recordedLinks})
      if (!force) {
        const extra = describeLeftovers({...leftovers, runDir: undefined})
        if (extra.length > 0) result.notes.push(`not in the journal, removed by tag: ${extra.join(', ')}`)
      } else result.notes.push(...leftovers.notes)
      // Without --force the run base is left to the journal's own step (it may predate virtlab).
      const removal = await removeLeftovers(ctx, force ? leftovers : {...leftovers, runBase: undefined})
      result.removed = removal.removed
      result.failed = removal.failed
      result.runDirRemoved = leftovers.runDir !== undefined && removal.removed.includes(`run directory ${leftovers.runDir}`)
    }
    if (force && result.notUndone.length > 0) {
      // --force: the tagged sweep is authoritative; steps whose undo failed are reported, then forgotten.
      result.notes.push(`undo failed for ${result.notUndone.map((n) => n.stepId).join(', ')}; forgotten (--force) after the tagged sweep`)
    }
    if ((result.notUndone.length === 0 || force) && result.failed.length === 0) {
      const journal = journalPath(ctx.target.stateDir, lab)
      // A "journal" that is a directory or a link is not one virtlab wrote: never remove it.
      if (read.state === 'corrupt' && read.code === 'JOURNAL_NOT_A_FILE') result.notes.push(`${journal} is not a journal file (${read.reason}); left as it is: remove it by hand if it is not needed`)
      else await ctx.target.fs.remove(journal)
    }
    return result
  } finally {
    await lock.release()
    await removeLabStateDirIfEmpty(ctx.target.fs, ctx.target.stateDir, lab)
  }
}

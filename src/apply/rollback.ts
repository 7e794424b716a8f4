/**
 * Undo: resolving a step's Undo into concrete actions before/after the step runs (recording the
 * previous file content or command output), and running journal entries backwards.
 */
import type {Context} from '../host/target.js'
import {VirtlabError, isVirtlabError} from '../errors.js'
import type {Action, Check, Step} from '../plan/step.js'
import {resolveActionTokens, resolveTokens, type TokenRegistry} from '../plan/tokens.js'
import {createTokenRegistry} from './tokens.js'
import {type ActionRuntime, runAction, runCommand} from './actions.js'
import type {JournalEntry, JournalStore} from './journal.js'

export const DEFAULT_UNDO_TIMEOUT_MS = 120_000

/**
 * Before the step's action runs: record what 'restore-file' / 'restore-exec' need and turn the
 * Undo into actions. Tokens in the resulting actions may still be unresolved (finishUndo).
 */
export async function prepareUndo(rt: ActionRuntime, step: Step, action: Action): Promise<Action[]> {
  const undo = step.undo
  switch (undo.kind) {
    case 'none':
      return []
    case 'action':
      return [undo.action]
    case 'actions':
      return [...undo.actions]
    case 'restore-file': {
      const path = await resolveTokens(undo.path, rt.ctx.target, rt.tokens)
      const previous = await rt.ctx.target.fs.tryReadFile(path)
      if (previous === undefined) return [{kind: 'remove', path}]
      if (action.kind === 'file') {
        const mode = (await rt.ctx.target.fs.stat(path))?.mode ?? 0o644
        return [{kind: 'file', path, content: previous, mode: mode & 0o7777}]
      }
      return [{kind: 'write', path, value: previous.trim()}]
    }
    case 'restore-exec': {
      const read = await Promise.all(undo.read.map((a) => resolveTokens(a, rt.ctx.target, rt.tokens)))
      const result = await runCommand(rt, read)
      const previous = result.exitCode === 0 ? result.stdout.trim() : ''
      const argv = previous === '' ? undo.whenAbsent : undo.whenPresent.map((a) => a.replaceAll('{previous}', previous))
      return argv.length === 0 ? [] : [{kind: 'exec', argv}]
    }
  }
}

/**
 * After the step's action ran: resolve late-bound tokens; unresolvable ones are left for undo time.
 * A wait's checks are resolved too, string by string (a pid read from a pidfile now, while the
 * daemon that wrote it is alive), leaving any token that cannot be resolved yet as it is.
 */
export async function finishUndo(rt: ActionRuntime, actions: Action[]): Promise<Action[]> {
  const out: Action[] = []
  for (const action of actions) {
    try {
      const resolved = await resolveActionTokens(action, rt.ctx.target, rt.tokens)
      out.push(resolved.kind === 'wait'
        ? {...resolved, until: await resolveCheckLoosely(rt, resolved.until), ...(resolved.failIf === undefined ? {} : {failIf: await resolveCheckLoosely(rt, resolved.failIf)})}
        : resolved)
    } catch {
      out.push(action)
    }
  }
  return out
}

async function resolveLoosely(rt: ActionRuntime, text: string): Promise<string> {
  try {
    return await resolveTokens(text, rt.ctx.target, rt.tokens)
  } catch {
    return text
  }
}

async function resolveCheckLoosely(rt: ActionRuntime, check: Check): Promise<Check> {
  const r = (t: string) => resolveLoosely(rt, t)
  switch (check.kind) {
    case 'exec-ok': return {...check, argv: await Promise.all(check.argv.map(r))}
    case 'exec-stdout': return {...check, argv: await Promise.all(check.argv.map(r))}
    case 'file-exists': return {...check, path: await r(check.path)}
    case 'file-equals': return {...check, path: await r(check.path), value: await r(check.value)}
    case 'dir-empty': return {...check, path: await r(check.path)}
    case 'mounted': return {...check, path: await r(check.path)}
    case 'not': return {...check, check: await resolveCheckLoosely(rt, check.check)}
    case 'all': return {...check, checks: await Promise.all(check.checks.map((c) => resolveCheckLoosely(rt, c)))}
    case 'any': return {...check, checks: await Promise.all(check.checks.map((c) => resolveCheckLoosely(rt, c)))}
  }
}

export interface UndoOutcome {
  undone: string[]
  /** Entries whose undo failed; they stay in the journal. */
  failed: {stepId: string; title: string; error: VirtlabError}[]
}

/**
 * Undo journal entries in the order given (callers pass them newest first). Each undone entry is
 * dropped from the journal as soon as its undo succeeded; a failing entry stays and the others
 * are still attempted, so as much as possible is put back.
 */
export async function undoEntries(ctx: Context, journal: JournalStore, entries: JournalEntry[], timeoutMs = DEFAULT_UNDO_TIMEOUT_MS, tokens: TokenRegistry = createTokenRegistry()): Promise<UndoOutcome> {
  const outcome: UndoOutcome = {undone: [], failed: []}
  for (const entry of entries) {
    ctx.operator.progress({type: 'undo-start', stepId: entry.stepId, title: entry.title})
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new Error(`undo timed out after ${Math.round(timeoutMs / 1000)} s`)), timeoutMs)
    const rt: ActionRuntime = {ctx, signal: controller.signal, timeoutMs, stepId: entry.stepId, tokens}
    try {
      for (const raw of entry.undo) {
        const action = await resolveActionTokens(raw, ctx.target, tokens)
        await runAction(rt, action)
      }
      await journal.remove(entry.stepId)
      outcome.undone.push(entry.stepId)
      ctx.operator.progress({type: 'undo-done', stepId: entry.stepId, title: entry.title})
    } catch (error) {
      const err = isVirtlabError(error)
        ? new VirtlabError('UNDO_FAILED', `undo of ${entry.stepId} (${entry.title}) failed: ${error.message}`, {command: error.command, cause: error})
        : new VirtlabError('UNDO_FAILED', `undo of ${entry.stepId} (${entry.title}) failed: ${error instanceof Error ? error.message : String(error)}`, {cause: error})
      outcome.failed.push({stepId: entry.stepId, title: entry.title, error: err})
      ctx.operator.progress({type: 'undo-fail', stepId: entry.stepId, title: entry.title, detail: err.message})
    } finally {
      clearTimeout(timer)
    }
  }
  return outcome
}

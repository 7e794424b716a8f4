/**
 * Running one action and evaluating one check, through the CommandRunner and HostFs only.
 * Failures become VirtlabError('ACTION_FAILED') carrying the failing argv, its exit code and
 * the tail of its stderr; the executor wraps them into STEP_FAILED naming the step.
 */
import type {Context} from '../host/target.js'
import {VirtlabError, isVirtlabError, quoteArgv} from '../errors.js'
import {errnoCode} from '../host/fs.js'
import {type RunResult, stderrTail} from '../host/runner.js'
import type {Action, Argv, Check} from '../plan/step.js'
import {describeCheck} from '../plan/render.js'
import {resolveTokens, type TokenRegistry} from '../plan/tokens.js'

export interface ActionRuntime {
  ctx: Context
  /** Fires on abort (SIGINT/SIGTERM) or the step's timeout. */
  signal: AbortSignal
  /** The time left for this step, for commands that have no timeout of their own. */
  timeoutMs: number
  /** The step being run or undone (tags the 'command' progress events). */
  stepId?: string | undefined
  /** Resolvers of late-bound tokens (src/apply/tokens.ts). */
  tokens: TokenRegistry
}

const DEFAULT_WAIT_INTERVAL_MS = 500

/** Run a command through the runner, announcing it (`-v` shows it), never throwing for a non-zero exit. */
export async function runCommand(rt: ActionRuntime, argv: readonly string[], options: {timeoutMs?: number | undefined; input?: string | undefined; env?: Record<string, string> | undefined} = {}): Promise<RunResult> {
  rt.ctx.operator.progress({type: 'command', ...(rt.stepId === undefined ? {} : {stepId: rt.stepId}), title: quoteArgv(argv)})
  try {
    return await rt.ctx.target.runner.run(argv, {
      timeoutMs: options.timeoutMs ?? rt.timeoutMs,
      ...(options.input === undefined ? {} : {input: options.input}),
      ...(options.env === undefined ? {} : {env: options.env}),
      allowFailure: true,
      signal: rt.signal,
    })
  } catch (error) {
    if (rt.signal.aborted) throw abortError(rt.signal, argv, error)
    if (isVirtlabError(error)) {
      throw new VirtlabError('ACTION_FAILED', error.message, {command: error.command ?? {argv}, cause: error})
    }
    throw new VirtlabError('ACTION_FAILED', `${argv[0] ?? ''} could not run: ${error instanceof Error ? error.message : String(error)}`, {command: {argv}, cause: error})
  }
}

function abortError(signal: AbortSignal, argv: readonly string[] | undefined, cause?: unknown): VirtlabError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted')
  return new VirtlabError('ACTION_ABORTED', reason, {...(argv === undefined ? {} : {command: {argv, signal: 'SIGTERM'}}), cause})
}

function throwIfAborted(rt: ActionRuntime): void {
  if (rt.signal.aborted) throw abortError(rt.signal, undefined)
}

function fsError(what: string, path: string, error: unknown): VirtlabError {
  const code = errnoCode(error)
  const message = error instanceof Error ? error.message : String(error)
  return new VirtlabError('ACTION_FAILED', `${what} ${path} failed${code ? ` (${code})` : ''}: ${message}`, {cause: error})
}

async function lookupId(rt: ActionRuntime, file: '/etc/passwd' | '/etc/group', name: string): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name)
  const text = (await rt.ctx.target.fs.tryReadFile(file)) ?? ''
  for (const line of text.split('\n')) {
    const fields = line.split(':')
    if (fields[0] === name && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2])
  }
  throw new VirtlabError('ACTION_FAILED', `${file === '/etc/passwd' ? 'user' : 'group'} ${name} does not exist on this host (${file})`, {
    hint: 'Install the package that creates it (libvirt-daemon-system creates libvirt-qemu).',
  })
}

/** Run one (token-resolved) action. */
export async function runAction(rt: ActionRuntime, action: Action): Promise<void> {
  throwIfAborted(rt)
  const {fs} = rt.ctx.target
  switch (action.kind) {
    case 'exec': {
      if (action.argv.length === 0) return
      const result = await runCommand(rt, action.argv, {timeoutMs: action.timeoutMs, input: action.input, env: action.env})
      const ok = result.exitCode === 0 || (action.okExitCodes ?? []).includes(result.exitCode)
      if (!ok) {
        throw new VirtlabError('ACTION_FAILED', `${action.argv[0] ?? ''} exited with ${result.exitCode}`, {
          command: {argv: action.argv, exitCode: result.exitCode, stderrTail: stderrTail(result.stderr || result.stdout)},
        })
      }
      return
    }
    case 'write': {
      rt.ctx.operator.progress({type: 'command', ...(rt.stepId === undefined ? {} : {stepId: rt.stepId}), title: `write ${JSON.stringify(action.value)} > ${action.path}`})
      try {
        await fs.writeFile(action.path, action.value)
      } catch (error) {
        throw fsError(`writing ${JSON.stringify(action.value)} to`, action.path, error)
      }
      return
    }
    case 'mkdir': {
      rt.ctx.operator.progress({type: 'command', ...(rt.stepId === undefined ? {} : {stepId: rt.stepId}), title: `mkdir -m ${action.mode.toString(8)} ${action.path}`})
      try {
        await fs.mkdir(action.path, {mode: action.mode})
      } catch (error) {
        throw fsError('creating directory', action.path, error)
      }
      if (action.owner) {
        const uid = await lookupId(rt, '/etc/passwd', action.owner.user)
        const gid = await lookupId(rt, '/etc/group', action.owner.group)
        try {
          await fs.chown(action.path, uid, gid)
        } catch (error) {
          throw fsError(`chown ${action.owner.user}:${action.owner.group}`, action.path, error)
        }
      }
      return
    }
    case 'file': {
      rt.ctx.operator.progress({type: 'command', ...(rt.stepId === undefined ? {} : {stepId: rt.stepId}), title: `write file ${action.path} (${action.content.length} bytes, mode ${action.mode.toString(8)})`})
      try {
        await fs.writeFile(action.path, action.content, {mode: action.mode, atomic: true})
        await fs.chmod(action.path, action.mode)
      } catch (error) {
        throw fsError('writing file', action.path, error)
      }
      return
    }
    case 'remove': {
      rt.ctx.operator.progress({type: 'command', ...(rt.stepId === undefined ? {} : {stepId: rt.stepId}), title: `rm ${action.recursive ? '-r ' : ''}${action.path}`})
      try {
        const st = await fs.stat(action.path)
        if (st?.isDirectory && !st.isSymlink && !action.recursive) {
          // A directory without `recursive`: rmdir semantics (only when empty).
          if ((await fs.readdir(action.path)).length > 0) {
            throw Object.assign(new Error(`directory not empty: ${action.path}`), {code: 'ENOTEMPTY'})
          }
          await fs.remove(action.path, {recursive: true})
        } else {
          await fs.remove(action.path, {recursive: action.recursive ?? false})
        }
      } catch (error) {
        throw fsError('removing', action.path, error)
      }
      return
    }
    case 'wait': {
      const interval = action.intervalMs ?? DEFAULT_WAIT_INTERVAL_MS
      const deadline = Date.now() + action.timeoutMs
      for (;;) {
        throwIfAborted(rt)
        if (await evaluateCheck(rt, action.until)) return
        if (action.failIf !== undefined && (await evaluateCheck(rt, action.failIf))) {
          throw new VirtlabError('ACTION_FAILED', `stopped waiting for ${action.what}: ${action.failMessage ?? `${describeCheck(action.failIf)} holds`}`)
        }
        if (Date.now() + interval > deadline) {
          throw new VirtlabError('ACTION_FAILED', `timed out after ${Math.round(action.timeoutMs / 1000)} s waiting for ${action.what}`)
        }
        await sleep(interval, rt.signal)
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, {once: true})
  })
}

async function resolveArgv(rt: ActionRuntime, argv: Argv): Promise<Argv | undefined> {
  try {
    return await Promise.all(argv.map((a) => resolveTokens(a, rt.ctx.target, rt.tokens)))
  } catch {
    return undefined
  }
}

async function resolveText(rt: ActionRuntime, text: string): Promise<string | undefined> {
  try {
    return await resolveTokens(text, rt.ctx.target, rt.tokens)
  } catch {
    return undefined
  }
}

/**
 * Does the check hold? Late-bound tokens are resolved first; a token that cannot be resolved yet
 * (the device it names does not exist) makes the check false.
 */
export async function evaluateCheck(rt: ActionRuntime, check: Check): Promise<boolean> {
  throwIfAborted(rt)
  switch (check.kind) {
    case 'exec-ok': {
      const argv = await resolveArgv(rt, check.argv)
      if (argv === undefined) return false
      return (await runCommand(rt, argv)).exitCode === 0
    }
    case 'exec-stdout': {
      const argv = await resolveArgv(rt, check.argv)
      if (argv === undefined) return false
      const result = await runCommand(rt, argv)
      return result.exitCode === 0 && new RegExp(check.pattern, 'm').test(result.stdout)
    }
    case 'file-exists': {
      const path = await resolveText(rt, check.path)
      return path !== undefined && rt.ctx.target.fs.exists(path)
    }
    case 'file-equals': {
      const path = await resolveText(rt, check.path)
      const value = await resolveText(rt, check.value)
      if (path === undefined || value === undefined) return false
      const content = await rt.ctx.target.fs.tryReadFile(path).catch(() => undefined)
      return content !== undefined && content.trim() === value.trim()
    }
    case 'dir-empty': {
      const path = await resolveText(rt, check.path)
      if (path === undefined) return false
      const st = await rt.ctx.target.fs.stat(path)
      if (st === undefined) return true
      return st.isDirectory && !st.isSymlink && (await rt.ctx.target.fs.readdir(path)).length === 0
    }
    case 'mounted': {
      const path = await resolveText(rt, check.path)
      if (path === undefined) return false
      const mounts = (await rt.ctx.target.fs.tryReadFile('/proc/mounts').catch(() => undefined)) ?? ''
      // /proc/mounts escapes space, tab, newline and backslash in octal (\040 ...).
      const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)))
      return mounts.split('\n').some((line) => {
        const fields = line.split(' ')
        return fields[1] !== undefined && unescape(fields[1]) === path && fields[2] === check.fstype
      })
    }
    case 'not':
      return !(await evaluateCheck(rt, check.check))
    case 'all': {
      for (const c of check.checks) if (!(await evaluateCheck(rt, c))) return false
      return true
    }
    case 'any': {
      for (const c of check.checks) if (await evaluateCheck(rt, c)) return true
      return false
    }
  }
}

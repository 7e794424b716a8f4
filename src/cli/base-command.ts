/**
 * The base of every virtlab command: `--json` (oclif's JSON flag: the command's return value is
 * printed as JSON on stdout, nothing else goes there), and every failure, oclif's usage errors
 * included, rendered through src/cli/failure.ts: one JSON object under `--json`, otherwise
 * `Error [CODE]: message` and a hint on stderr, never a stack trace; exit 1 for a failure, 2 for
 * a usage error.
 */
import {Command, Errors, Flags} from '@oclif/core'

import type {OpenContextOptions} from '../app/context.js'
import type {ProgressSink} from '../host/progress.js'
import type {Context} from '../host/target.js'
import {describeFailure, failureJson, failureText} from './failure.js'

/** --host on every command that touches a host. */
export const hostFlag = Flags.string({
  description: 'the target host: a name from the hosts file (`virtlab host list`) or ssh://[user@]host[:port] (default: this machine; env VIRTLAB_HOST)',
  helpGroup: 'HOST',
})

export abstract class VirtlabCommand extends Command {
  static override enableJsonFlag = true

  private readonly openTargets: Context['target'][] = []

  /** The Context on the chosen target host (--host / $VIRTLAB_HOST / this machine), closed when the command ends. */
  protected async openContext(options: OpenContextOptions): Promise<Context> {
    const {openContext} = await import('../app/context.js')
    const ctx = await openContext(options)
    this.openTargets.push(ctx.target)
    return ctx
  }

  /** Progress for a command without a progress tree: its notes and warnings on stderr, nothing under --json. */
  protected notesToStderr(): ProgressSink {
    const json = this.jsonEnabled()
    return (e) => {
      if (!json && (e.type === 'info' || e.type === 'warn')) this.logToStderr(`${e.type === 'warn' ? 'warning: ' : ''}${e.title}${e.detail ? ` (${e.detail})` : ''}`)
    }
  }

  /** Run `work` with a signal that SIGINT and SIGTERM abort (the use case then stops and cleans up). */
  protected async abortOnSignals<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController()
    const onSignal = () => controller.abort(new Error('interrupted'))
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    try {
      return await work(controller.signal)
    } finally {
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
    }
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    for (const target of this.openTargets.splice(0)) await target.close().catch(() => undefined)
    return super.finally(error)
  }

  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    // this.exit(n) is not a failure to render.
    if (error instanceof Errors.ExitError) throw error
    const flags = Object.keys((this.constructor as typeof Command).flags ?? {})
    const command = this.id === undefined ? undefined : this.id.replaceAll(':', ' ')
    const failure = describeFailure(error, {bin: this.config.bin, command, flags: [...flags, 'json']})
    if (this.jsonEnabled()) {
      process.stdout.write(JSON.stringify(failureJson(failure), null, 2) + '\n')
    } else {
      process.stderr.write(failureText(error, failure) + '\n')
      if (failure.code === 'INTERNAL' && process.env.VIRTLAB_DEBUG) process.stderr.write(`${error.stack ?? ''}\n`)
    }
    process.exitCode = failure.exitCode
    return undefined
  }
}

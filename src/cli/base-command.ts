/**
 * The base of every virtlab command: `--json` (oclif's JSON flag: the command's return value is
 * printed as JSON on stdout, nothing else goes there), and errors rendered with their code, the
 * failing command and a hint, never a stack trace.
 */
import {Command, Flags} from '@oclif/core'

import type {OpenContextOptions} from '../app/context.js'
import {formatError, isVirtlabError} from '../errors.js'
import type {Context} from '../host/target.js'

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

  protected override async finally(error: Error | undefined): Promise<unknown> {
    for (const target of this.openTargets.splice(0)) await target.close().catch(() => undefined)
    return super.finally(error)
  }

  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    // oclif's own parse errors (unknown flag, missing arg) keep oclif's rendering.
    if (!isVirtlabError(error) && error.oclif !== undefined) return super.catch(error)
    const exitCode = isVirtlabError(error) ? error.exitCode : 1
    if (this.jsonEnabled()) {
      const body = isVirtlabError(error) ? error.toJSON() : {code: 'INTERNAL', message: error.message}
      process.stdout.write(JSON.stringify({error: body}, null, 2) + '\n')
    } else {
      process.stderr.write(formatError(error) + '\n')
      if (!isVirtlabError(error) && process.env.VIRTLAB_DEBUG) process.stderr.write(`${error.stack ?? ''}\n`)
    }
    process.exitCode = exitCode
    return undefined
  }
}

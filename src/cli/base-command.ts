/**
 * The base of every virtlab command: `--json` (oclif's JSON flag: the command's return value is
 * printed as JSON on stdout, nothing else goes there), and errors rendered with their code, the
 * failing command and a hint, never a stack trace.
 */
import {Command} from '@oclif/core'

import {formatError, isVirtlabError} from '../errors.js'

export abstract class VirtlabCommand extends Command {
  static override enableJsonFlag = true

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

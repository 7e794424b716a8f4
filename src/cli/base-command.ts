/**
 * The base of every virtlab command: `--json` (oclif's JSON flag: the command's return value is
 * printed as JSON on stdout, nothing else goes there), and every failure, oclif's usage errors
 * included, rendered through src/cli/failure.ts: one JSON object under `--json`, otherwise
 * `Error [CODE]: message` and a hint on stderr, never a stack trace; exit 1 for a failure, 2 for
 * a usage error.
 */
import {Command, Errors} from '@oclif/core'

import {describeFailure, failureJson, failureText} from './failure.js'

export abstract class VirtlabCommand extends Command {
  static override enableJsonFlag = true

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

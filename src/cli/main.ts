/**
 * The CLI's entry point (bin/run.js): oclif's run(), with the failures that happen before a
 * command exists rendered like a command's (src/cli/failure.ts): an unknown command under
 * `--json` is one JSON object on stdout with code COMMAND_NOT_FOUND and exit code 2.
 *
 * With `topicSeparator: ' '` oclif reads every word before the first flag as part of the command
 * id, so `virtlab vaildate labs/x.yaml` would reach @oclif/plugin-not-found as
 * "vaildate:labs/x.yaml" and get a suggestion for the wrong command. When the words do not name a
 * command, the id handed to oclif is cut after the first word that is not a topic, the rest
 * stay arguments: the plugin then suggests `validate` and, if the user accepts on a TTY, runs it
 * with the same arguments.
 */
import {Config, Errors, flush, run, toConfiguredId} from '@oclif/core'

import {describeFailure, EXIT_USAGE, failureJson, failureText, jsonRequested, nearest, type Failure} from './failure.js'

/** The command id the words of argv can name: topics, then one more word. */
/** What unknownCommandId asks of oclif's Config. */
export interface CommandLookup {
  findCommand(id: string): unknown
  findTopic(id: string): unknown
}

export function unknownCommandId(config: CommandLookup, argv: readonly string[]): {id: string; rest: string[]} | undefined {
  if (argv[0]?.startsWith('-') === true) return undefined
  const words: string[] = []
  for (const word of argv) {
    if (word.startsWith('-')) break
    words.push(word)
  }
  if (words.length === 0) return undefined
  let k = 0
  while (k < words.length && config.findTopic(words.slice(0, k + 1).join(':')) !== undefined && config.findCommand(words.slice(0, k + 1).join(':')) === undefined) k++
  for (let n = Math.min(k + 1, words.length); n >= 1; n--) {
    if (config.findCommand(words.slice(0, n).join(':')) !== undefined) return undefined
  }
  if (k === words.length) return undefined // a topic alone: oclif shows its help
  return {id: words.slice(0, k + 1).join(':'), rest: argv.slice(k + 1)}
}

/** The flags oclif itself answers without a command. */
const ROOT_FLAGS = new Set(['--version', '--help'])

function notFound(config: Config, id: string): Failure {
  const typed = toConfiguredId(id, config)
  const ids = config.commands.filter((c) => !c.hidden).map((c) => c.id)
  const near = nearest(id, ids)
  const list = `\`${config.bin} help\` lists the commands`
  return {
    code: 'COMMAND_NOT_FOUND',
    message: `${typed} is not a ${config.bin} command`,
    hint: near === undefined ? list : `did you mean \`${config.bin} ${toConfiguredId(near, config)}\`? ${list}`,
    exitCode: EXIT_USAGE,
  }
}

export async function main(root: string, argv: string[] = process.argv.slice(2)): Promise<void> {
  const json = jsonRequested(argv)
  let config: Config | undefined
  let unknown: {id: string; rest: string[]} | undefined
  try {
    config = await Config.load(root)
    const first = argv[0]
    if (first !== undefined && first.startsWith('-') && !ROOT_FLAGS.has(first)) {
      render({code: 'UNKNOWN_FLAG', message: `Nonexistent flag: ${first}`, hint: `\`${config.bin} --help\` lists the commands, \`${config.bin} <command> --help\` its flags`, exitCode: EXIT_USAGE}, json, undefined)
      return
    }
    unknown = unknownCommandId(config, argv)
    if (unknown !== undefined && (json || !process.stdin.isTTY)) {
      // Nothing to ask: report it (with the nearest command) and stop.
      const failure = notFound(config, unknown.id)
      render(failure, json, undefined)
      return
    }
    if (unknown === undefined) await run(argv, config)
    else await config.runCommand(unknown.id, unknown.rest) // @oclif/plugin-not-found asks "Did you mean ...?"
    flush()
  } catch (error) {
    if (error instanceof Errors.ExitError) {
      process.exitCode = error.oclif.exit ?? 0
      return
    }
    const exit = (error as {oclif?: {exit?: number}}).oclif?.exit
    if (unknown !== undefined && config !== undefined && exit === 127) {
      // The not-found plugin's answer after the user said no (it printed its warning): our
      // rendering and exit code convention.
      render(notFound(config, unknown.id), false, undefined)
      return
    }
    render(describeFailure(error, {bin: config?.bin ?? 'virtlab'}), json, error)
  }
}

function render(failure: Failure, json: boolean, error: unknown): void {
  if (json) process.stdout.write(JSON.stringify(failureJson(failure), null, 2) + '\n')
  else process.stderr.write(failureText(error, failure) + '\n')
  process.exitCode = failure.exitCode
}

/**
 * Every way a virtlab invocation can fail, reduced to one shape: a stable UPPER_SNAKE code, the
 * message, a hint and the process exit code. The exit code convention holds for every command:
 *
 *   0  success
 *   1  failure: the lab, the host or a step failed (also: doctor found a failing check, a result
 *      missed a threshold, validate found an invalid lab)
 *   2  usage: an unknown command or flag, a missing argument, a malformed flag value
 *
 * Under `--json` a failure is exactly one JSON object on stdout: {"error": {code, message, hint?,
 * command?, details?, exitCode}}. Without it, the failure goes to stderr as `Error [CODE]: message`
 * followed by the hint. oclif's own parse errors (NonExistentFlagsError, RequiredArgsError, ...)
 * are classified here by their class name, since @oclif/core does not export those classes.
 */
import {closest, distance} from 'fastest-levenshtein'

import {formatError, isVirtlabError} from '../errors.js'

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

export interface Failure {
  code: string
  message: string
  hint?: string | undefined
  command?: unknown
  details?: unknown
  exitCode: number
}

/** What a failure is described against: the command that failed (when one was found). */
export interface FailureContext {
  bin: string
  /** The command as typed, e.g. `image build` (undefined when no command was found). */
  command?: string | undefined
  /** The command's flag names without dashes (its own and the JSON flag), for suggestions. */
  flags?: readonly string[] | undefined
}

type OclifError = Error & {oclif?: {exit?: number | false}; flags?: unknown; skipOclifErrorHandling?: boolean}

const PARSE_ERROR_CODES: Record<string, string> = {
  NonExistentFlagsError: 'UNKNOWN_FLAG',
  RequiredArgsError: 'MISSING_ARGUMENT',
  UnexpectedArgsError: 'UNEXPECTED_ARGUMENT',
  FlagInvalidOptionError: 'INVALID_FLAG_VALUE',
  ArgInvalidOptionError: 'INVALID_ARGUMENT',
  FailedFlagValidationError: 'INVALID_FLAG',
  ViolatedFlagConstraintError: 'FLAG_CONFLICT',
  InvalidArgsSpecError: 'INVALID_ARGUMENT',
}

/** The nearest candidate, when it is near enough to be what the user meant. */
export function nearest(typed: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0 || typed === '') return undefined
  const best = closest(typed, [...candidates])
  return distance(typed, best) <= Math.max(1, Math.floor(typed.length / 3)) ? best : undefined
}

function helpFor(context: FailureContext): string {
  return context.command === undefined ? `\`${context.bin} help\` lists the commands` : `\`${context.bin} ${context.command} --help\` lists its flags and arguments`
}

/** oclif appends "\nSee more help with --help" to parse errors; the hint says it instead. */
function cleanMessage(message: string): string {
  return message.replace(/\nSee more help with --help$/, '').trim()
}

function unknownFlagHint(error: OclifError, context: FailureContext): string {
  const typed = Array.isArray(error.flags) ? error.flags.map(String) : []
  const suggestions = typed.flatMap((flag) => {
    const name = flag.replace(/^-+/, '').replace(/=.*$/, '')
    const near = nearest(name, context.flags ?? [])
    return near === undefined ? [] : [`--${near}`]
  })
  const unique = [...new Set(suggestions)]
  return unique.length === 0 ? helpFor(context) : `did you mean ${unique.join(', ')}? ${helpFor(context)}`
}

/** Describe any error a command (or oclif's parser) threw. */
export function describeFailure(error: unknown, context: FailureContext): Failure {
  if (isVirtlabError(error)) {
    return {code: error.code, message: error.message, hint: error.hint, command: error.command, details: error.details, exitCode: error.exitCode}
  }
  if (!(error instanceof Error)) return {code: 'INTERNAL', message: String(error), exitCode: EXIT_FAILURE}
  const oclif = error as OclifError
  const parseCode = PARSE_ERROR_CODES[error.constructor.name]
  if (parseCode !== undefined) {
    const hint = parseCode === 'UNKNOWN_FLAG' ? unknownFlagHint(oclif, context) : helpFor(context)
    return {code: parseCode, message: cleanMessage(error.message), hint, exitCode: EXIT_USAGE}
  }
  // The remaining CLIErrors oclif raises while parsing ("Flag --x expects a value", "Flag --x can
  // only be specified once") carry oclif's usage exit code 2.
  // @oclif/plugin-help: "Command x not found."; @oclif/plugin-not-found: exit 127.
  if (/^command \S+ not found\.?$/i.test(error.message) || oclif.oclif?.exit === 127) {
    return {code: 'COMMAND_NOT_FOUND', message: cleanMessage(error.message), hint: `\`${context.bin} help\` lists the commands`, exitCode: EXIT_USAGE}
  }
  if (error.constructor.name === 'CLIError' && oclif.oclif?.exit === EXIT_USAGE) {
    return {code: 'USAGE', message: cleanMessage(error.message), hint: helpFor(context), exitCode: EXIT_USAGE}
  }
  return {code: 'INTERNAL', message: error.message, hint: 'this is a bug in virtlab; VIRTLAB_DEBUG=1 prints the stack', exitCode: EXIT_FAILURE}
}

/** The `--json` body of a failure: one object. */
export function failureJson(failure: Failure): {error: Record<string, unknown>} {
  return {
    error: {
      code: failure.code,
      message: failure.message,
      ...(failure.hint === undefined ? {} : {hint: failure.hint}),
      ...(failure.command === undefined ? {} : {command: failure.command}),
      ...(failure.details === undefined ? {} : {details: failure.details}),
      exitCode: failure.exitCode,
    },
  }
}

/** The terminal rendering of a failure (stderr). VirtlabErrors keep their full rendering (command, causes). */
export function failureText(error: unknown, failure: Failure): string {
  if (isVirtlabError(error)) return formatError(error)
  const lines = [`Error [${failure.code}]: ${failure.message}`]
  if (failure.hint !== undefined) lines.push(`  hint: ${failure.hint}`)
  return lines.join('\n')
}

/** Whether `--json` was given (before a `--`), for failures raised before flags are parsed. */
export function jsonRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json')
}

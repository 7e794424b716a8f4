/**
 * Every error virtlab raises on purpose is a VirtlabError: a stable code, a one-line message,
 * a hint that says how to fix it, and (when a command failed) the failing argv, its exit code
 * and the tail of its stderr. Commands render these; nothing prints a stack trace for them.
 */
export interface FailedCommand {
  argv: readonly string[]
  exitCode?: number | undefined
  signal?: string | undefined
  stderrTail?: string | undefined
}

export interface VirtlabErrorOptions {
  hint?: string | undefined
  command?: FailedCommand | undefined
  cause?: unknown
  exitCode?: number
  details?: unknown
}

export class VirtlabError extends Error {
  readonly code: string
  readonly hint: string | undefined
  readonly command: FailedCommand | undefined
  readonly exitCode: number
  readonly details: unknown

  constructor(code: string, message: string, options: VirtlabErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'VirtlabError'
    this.code = code
    this.hint = options.hint
    this.command = options.command
    this.exitCode = options.exitCode ?? 1
    this.details = options.details
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint === undefined ? {} : {hint: this.hint}),
      ...(this.command === undefined ? {} : {command: this.command}),
      ...(this.details === undefined ? {} : {details: this.details}),
    }
  }
}

export function isVirtlabError(error: unknown): error is VirtlabError {
  return error instanceof VirtlabError
}

/** Render an error for a terminal: message, the failing command, the hint; never a stack for our own errors. */
export function formatError(error: unknown): string {
  if (!isVirtlabError(error)) {
    const message = error instanceof Error ? error.message : String(error)
    return `Error: ${message}`
  }
  const lines = [`Error [${error.code}]: ${error.message}`]
  if (error.command) {
    const status = error.command.exitCode === undefined
      ? (error.command.signal ? `killed by ${error.command.signal}` : 'did not run')
      : `exit ${error.command.exitCode}`
    lines.push(`  command: ${quoteArgv(error.command.argv)} (${status})`)
    if (error.command.stderrTail) {
      for (const line of error.command.stderrTail.trimEnd().split('\n')) lines.push(`  | ${line}`)
    }
  }
  if (error.hint) lines.push(`  hint: ${error.hint}`)
  let cause = error.cause
  while (cause !== undefined) {
    lines.push(`  caused by: ${cause instanceof Error ? (isVirtlabError(cause) ? `[${cause.code}] ` : '') + cause.message : String(cause)}`)
    cause = cause instanceof Error ? cause.cause : undefined
  }
  return lines.join('\n')
}

/** Display-only quoting of an argv (never used to run anything). */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ')
}

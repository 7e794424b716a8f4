/**
 * Quoting for the remote POSIX shell. ssh hands the remote side ONE command string, which the
 * remote user's login shell (sh, bash, dash, zsh, ksh: POSIX quoting) parses back into argv. Every
 * argv element goes through shellQuote: words made only of characters no POSIX shell treats
 * specially stay bare, everything else is single-quoted (inside single quotes nothing is special
 * except the quote itself, written as '\''). NUL cannot travel in an argv element and is refused.
 */
import {VirtlabError} from '../../errors.js'

// No '=' (a bare first word `a=b` would be an assignment), no '~' (tilde expansion), no '%' (job specs in some shells).
const BARE = /^[A-Za-z0-9_@+,./:-]+$/

/** Quote one argv element so the remote POSIX shell reads it back byte for byte. */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new VirtlabError('SSH_ARG_NUL', 'An argument for the remote host contains a NUL byte', {hint: 'Arguments cannot contain NUL bytes (execve takes C strings).'})
  if (BARE.test(arg)) return arg
  return `'${arg.replaceAll("'", `'\\''`)}'`
}

/** The remote command string for an argv: every element quoted, joined by spaces. */
export function remoteCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new VirtlabError('RUNNER_EMPTY_ARGV', 'internal: empty argv')
  return argv.map(shellQuote).join(' ')
}

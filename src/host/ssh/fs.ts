/**
 * SshFs: the HostFs of an SSH target. Every operation is one small POSIX sh script (coreutils
 * and findutils on the target) run through the target's SshRunner, so sudo and timeouts apply
 * the same way as to commands; paths travel as quoted arguments, contents on stdin/stdout
 * (base64 for raw bytes). A failed operation throws an Error carrying the errno `code` (ENOENT,
 * EACCES, EBUSY, EINVAL, ERANGE, EEXIST, ENOTDIR, EISDIR, ...), `errno`, `syscall` and `path`,
 * shaped like node:fs's, so device errors (e.g. EBUSY writing sriov_numvfs) read the same as
 * local ones. The code comes from the tool's strerror text or from the script's own `@errno CODE`.
 */
import {randomBytes} from 'node:crypto'
import {constants as osConstants} from 'node:os'
import * as path from 'node:path'

import type {FileStat, HostFs, WriteOptions} from '../fs.js'
import type {SshRunner} from './runner.js'

/** glibc strerror texts (and a few tool phrasings) -> errno codes. */
const STRERROR: [RegExp, string][] = [
  [/No such file or directory|Directory nonexistent|can't cd to|No such file/, 'ENOENT'],
  [/Permission denied/, 'EACCES'],
  [/Operation not permitted/, 'EPERM'],
  [/Device or resource busy/, 'EBUSY'],
  [/Input\/output error/, 'EIO'],
  [/Invalid argument/, 'EINVAL'],
  [/Numerical result out of range|Result not representable/, 'ERANGE'],
  [/File exists|cannot overwrite existing file/, 'EEXIST'],
  [/Not a directory|cannot overwrite non-directory/, 'ENOTDIR'],
  [/Is a directory|cannot overwrite directory/, 'EISDIR'],
  [/Directory not empty/, 'ENOTEMPTY'],
  [/No space left on device/, 'ENOSPC'],
  [/Read-only file system/, 'EROFS'],
  [/No such device or address/, 'ENXIO'],
  [/No such device/, 'ENODEV'],
  [/Cannot allocate memory/, 'ENOMEM'],
  [/Resource temporarily unavailable/, 'EAGAIN'],
  [/Invalid cross-device link/, 'EXDEV'],
  [/Too many levels of symbolic links/, 'ELOOP'],
  [/File name too long/, 'ENAMETOOLONG'],
  [/Operation not supported/, 'EOPNOTSUPP'],
  [/Function not implemented/, 'ENOSYS'],
  [/File too large/, 'EFBIG'],
  [/Text file busy/, 'ETXTBSY'],
  [/Argument list too long/, 'E2BIG'],
  [/Bad address/, 'EFAULT'],
  [/Broken pipe/, 'EPIPE'],
  [/Operation already in progress/, 'EALREADY'],
  [/Protocol error/, 'EPROTO'],
  [/Operation timed out|Connection timed out/, 'ETIMEDOUT'],
]

/** The errno code a failed remote file operation reported on stderr (EIO when it names none). */
export function errnoFromStderr(stderr: string): string {
  const marker = /@errno ([A-Z0-9_]+)/.exec(stderr)
  if (marker?.[1] !== undefined) return marker[1]
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean).reverse()
  for (const line of lines) {
    for (const [pattern, code] of STRERROR) if (pattern.test(line)) return code
  }
  return 'EIO'
}

const DESCRIPTION: Record<string, string> = {
  ENOENT: 'no such file or directory', EACCES: 'permission denied', EPERM: 'operation not permitted', EBUSY: 'resource busy or locked',
  EIO: 'i/o error', EINVAL: 'invalid argument', ERANGE: 'result out of range', EEXIST: 'file already exists', ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory', ENOTEMPTY: 'directory not empty', ENOSPC: 'no space left on device', EROFS: 'read-only file system',
  ENODEV: 'no such device', ENXIO: 'no such device or address', ERR_FS_EISDIR: 'Path is a directory',
}

/** An Error shaped like node:fs's: code, errno, syscall, path (plus host and the remote stderr). */
export function remoteErrnoError(code: string, syscall: string, hostPath: string, host: string, stderr = ''): Error & {code: string} {
  const description = DESCRIPTION[code] ?? code.toLowerCase()
  const message = code === 'ERR_FS_EISDIR'
    ? `Path is a directory: ${syscall} returned EISDIR (is a directory) ${hostPath}`
    : `${code}: ${description}, ${syscall} '${hostPath}'`
  const number = (osConstants.errno as Record<string, number | undefined>)[code === 'ERR_FS_EISDIR' ? 'EISDIR' : code]
  return Object.assign(new Error(message), {
    code,
    errno: number === undefined ? undefined : code === 'ERR_FS_EISDIR' ? number : -number,
    syscall,
    path: hostPath,
    host,
    remoteStderr: stderr.trim(),
  })
}

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000
const S_IFCHR = 0o020000

/** mode & ~umask on the remote, in octal (the script's `perm` function). */
const PERM = 'perm() { u=$(umask); printf "%o" $(( 0$1 & ~0$u & 07777 )); }'

const SCRIPTS = {
  read: 'cat -- "$1"',
  readBytes: 'base64 -w 0 -- "$1"',
  // $1 path, $2 mode ('' = default), $3 plain|exclusive|atomic, $4 raw|base64, $5 temp suffix
  write: [
    't=$1 m=$2 f=$3 b=$4 x=$5',
    PERM,
    'put() { if [ "$b" = base64 ]; then base64 -d > "$1"; else cat > "$1"; fi; }',
    'case $f in',
    'atomic)',
    '  tmp=$t.tmp-$x',
    '  (umask 077; : > "$tmp") || exit 1',
    '  chmod "$(perm "$m")" -- "$tmp" && put "$tmp" && sync -- "$tmp" && mv -f -T -- "$tmp" "$t" || { r=$?; rm -f -- "$tmp"; exit $r; } ;;',
    'exclusive)',
    '  if [ -n "$m" ]; then (umask 077; set -C; : > "$t") || exit 1; chmod "$(perm "$m")" -- "$t" || exit 1',
    '  else (set -C; : > "$t") || exit 1; fi',
    '  put "$t" ;;',
    '*)',
    '  if [ -n "$m" ] && ! [ -e "$t" ]; then (umask 077; : > "$t") || exit 1; chmod "$(perm "$m")" -- "$t" || exit 1; fi',
    '  put "$t" ;;',
    'esac',
  ].join('\n'),
  append: 'cat >> "$1"',
  exists: '[ -e "$1" ] || [ -L "$1" ]',
  stat: 'stat -c "%f %u %g %s" -- "$1" || exit 1; stat -L -c "%f %u %g %s" -- "$1" 2>/dev/null || echo -',
  readdir: [
    // find reads a leading '-' as an expression: hand it ./-name instead.
    'case $1 in -*) set -- "./$1" ;; esac',
    'if [ -d "$1" ]; then find -H "$1" -mindepth 1 -maxdepth 1 -printf "%f\\0"',
    'elif [ -e "$1" ]; then echo "@errno ENOTDIR" >&2; exit 1',
    'else echo "@errno ENOENT" >&2; exit 1; fi',
  ].join('\n'),
  readlink: 'readlink -- "$1"',
  mkdir: [
    'if [ -z "$2" ]; then mkdir -p -- "$1"; exit; fi',
    '(umask "$(printf "%o" $(( 0$(umask) | (~0$2 & 0777) )))"; mkdir -p -- "$1") && chmod "$3" -- "$1"',
  ].join('\n'),
  remove: [
    'if [ "$2" = recursive ]; then rm -rf -- "$1"; exit; fi',
    'if [ -d "$1" ] && ! [ -L "$1" ]; then echo "@errno ERR_FS_EISDIR" >&2; exit 1; fi',
    'rm -f -- "$1"',
  ].join('\n'),
  chmod: 'chmod "$2" -- "$1"',
  chown: 'chown "$2" -- "$1"',
  symlink: 'ln -s -T -- "$1" "$2"',
  rename: 'mv -f -T -- "$1" "$2"',
  canOpen: 'if [ "$2" = w ]; then [ -w "$1" ]; else [ -r "$1" ]; fi',
  readMany: 'while IFS= read -r p; do if b=$(base64 -w 0 -- "$p" 2>/dev/null); then printf "+%s\\n" "$b"; else echo -; fi; done',
  // Per directory: its entries, each NUL-terminated, then one more NUL (names are never empty).
  readdirMany: 'while IFS= read -r p; do case $p in -*) p=./$p ;; esac; if [ -d "$p" ]; then find -H "$p" -mindepth 1 -maxdepth 1 -printf "%f\\0" 2>/dev/null; fi; printf "\\0"; done',
  readlinkMany: 'while IFS= read -r p; do if t=$(readlink -- "$p" 2>/dev/null); then printf "+%s\\0" "$t"; else printf -- "-\\0"; fi; done',
} as const

type Op = keyof typeof SCRIPTS

const BYTES_TIMEOUT_MS = 600_000

export class SshFs implements HostFs {
  readonly root = '/'

  constructor(private readonly runner: SshRunner, private readonly host: string) {}

  resolve(hostPath: string): string {
    return path.posix.normalize(hostPath)
  }

  private async op(op: Op, args: string[], options: {input?: string; timeoutMs?: number} = {}) {
    // LC_ALL=C: the errno codes are read from the tools' (English) strerror texts.
    return this.runner.run(['sh', '-c', `LC_ALL=C; export LC_ALL\n${SCRIPTS[op]}`, `virtlab-${op}`, ...args], {allowFailure: true, input: options.input, timeoutMs: options.timeoutMs})
  }

  /** Run an op that must succeed: a failure throws the errno error for (syscall, path). */
  private async must(op: Op, syscall: string, hostPath: string, args: string[], options: {input?: string; timeoutMs?: number} = {}) {
    const result = await this.op(op, args, options)
    if (result.exitCode !== 0) throw remoteErrnoError(errnoFromStderr(result.stderr), syscall, hostPath, this.host, result.stderr)
    return result
  }

  async readFile(hostPath: string): Promise<string> {
    return (await this.must('read', 'open', hostPath, [hostPath])).stdout
  }

  async readBytes(hostPath: string): Promise<Uint8Array> {
    const result = await this.must('readBytes', 'open', hostPath, [hostPath], {timeoutMs: BYTES_TIMEOUT_MS})
    return new Uint8Array(Buffer.from(result.stdout.trim(), 'base64'))
  }

  async tryReadFile(hostPath: string): Promise<string | undefined> {
    try {
      return await this.readFile(hostPath)
    } catch (error) {
      if ((error as {code?: string}).code === 'ENOENT') return undefined
      throw error
    }
  }

  /**
   * Many files in one round trip: the text of each, or undefined when it cannot be read (missing,
   * unreadable, a read error). Paths go on stdin, one a line; a path with a newline is read alone.
   */
  async readMany(paths: readonly string[]): Promise<Map<string, string | undefined>> {
    const out = new Map<string, string | undefined>()
    const batch = [...new Set(paths.filter((p) => !p.includes('\n')))]
    if (batch.length > 0) {
      const result = await this.op('readMany', [], {input: batch.map((p) => `${p}\n`).join(''), timeoutMs: BYTES_TIMEOUT_MS})
      if (result.exitCode !== 0) throw remoteErrnoError(errnoFromStderr(result.stderr), 'read', batch[0] ?? '', this.host, result.stderr)
      const lines = result.stdout.split('\n')
      batch.forEach((p, i) => {
        const line = lines[i] ?? '-'
        out.set(p, line.startsWith('+') ? Buffer.from(line.slice(1), 'base64').toString('utf8') : undefined)
      })
    }
    for (const p of paths) {
      if (!out.has(p)) out.set(p, await this.readFile(p).catch(() => undefined))
    }
    return out
  }

  /** Many directories in one round trip: dir -> sorted entries ([] when missing or unreadable). */
  async readdirMany(paths: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>()
    const batch = [...new Set(paths.filter((p) => !p.includes('\n')))]
    if (batch.length > 0) {
      const result = await this.op('readdirMany', [], {input: batch.map((p) => `${p}\n`).join(''), timeoutMs: BYTES_TIMEOUT_MS})
      if (result.exitCode !== 0) throw remoteErrnoError(errnoFromStderr(result.stderr), 'scandir', batch[0] ?? '', this.host, result.stderr)
      const fields = result.stdout.split('\0')
      let i = 0
      for (const dir of batch) {
        const names: string[] = []
        while (i < fields.length && fields[i] !== '') names.push(fields[i++]!)
        i++
        out.set(dir, names.sort())
      }
    }
    for (const p of paths) {
      if (!out.has(p)) out.set(p, await this.readdir(p).catch(() => [] as string[]))
    }
    return out
  }

  /** Many symlinks in one round trip: path -> target, undefined when not a link. */
  async readlinkMany(paths: readonly string[]): Promise<Map<string, string | undefined>> {
    const out = new Map<string, string | undefined>()
    const batch = [...new Set(paths.filter((p) => !p.includes('\n')))]
    if (batch.length > 0) {
      const result = await this.op('readlinkMany', [], {input: batch.map((p) => `${p}\n`).join(''), timeoutMs: BYTES_TIMEOUT_MS})
      if (result.exitCode !== 0) throw remoteErrnoError(errnoFromStderr(result.stderr), 'readlink', batch[0] ?? '', this.host, result.stderr)
      const fields = result.stdout.split('\0')
      batch.forEach((p, i) => {
        const field = fields[i] ?? '-'
        out.set(p, field.startsWith('+') ? field.slice(1) : undefined)
      })
    }
    for (const p of paths) {
      if (!out.has(p)) out.set(p, await this.readlink(p))
    }
    return out
  }

  async writeFile(hostPath: string, content: string, options: WriteOptions = {}): Promise<void> {
    await this.write(hostPath, content, 'raw', options)
  }

  async writeBytes(hostPath: string, content: Uint8Array, options: WriteOptions = {}): Promise<void> {
    await this.write(hostPath, Buffer.from(content).toString('base64'), 'base64', options)
  }

  private async write(hostPath: string, input: string, encoding: 'raw' | 'base64', options: WriteOptions): Promise<void> {
    const flavour = options.atomic ? 'atomic' : options.exclusive ? 'exclusive' : 'plain'
    const mode = options.mode ?? (options.atomic ? 0o600 : undefined)
    await this.must('write', options.atomic ? 'rename' : 'open', hostPath, [
      hostPath, mode === undefined ? '' : mode.toString(8), flavour, encoding, randomBytes(6).toString('hex'),
    ], {input, timeoutMs: encoding === 'base64' ? BYTES_TIMEOUT_MS : undefined})
  }

  async appendFile(hostPath: string, content: string): Promise<void> {
    await this.must('append', 'open', hostPath, [hostPath], {input: content})
  }

  async exists(hostPath: string): Promise<boolean> {
    return (await this.op('exists', [hostPath])).exitCode === 0
  }

  async stat(hostPath: string): Promise<FileStat | undefined> {
    const result = await this.op('stat', [hostPath])
    if (result.exitCode !== 0) return undefined
    const [own, followed] = result.stdout.split('\n')
    const parse = (line: string | undefined) => {
      const [mode, uid, gid, size] = (line ?? '').trim().split(' ')
      if (mode === undefined || uid === undefined || gid === undefined || size === undefined) return undefined
      return {mode: parseInt(mode, 16), uid: Number(uid), gid: Number(gid), size: Number(size)}
    }
    const l = parse(own)
    if (l === undefined) return undefined
    const f = parse(followed) ?? l
    const type = (m: number) => m & S_IFMT
    return {
      isFile: type(f.mode) === S_IFREG,
      isDirectory: type(f.mode) === S_IFDIR,
      isSymlink: type(l.mode) === S_IFLNK,
      isCharDevice: type(f.mode) === S_IFCHR,
      mode: f.mode,
      uid: f.uid,
      gid: f.gid,
      size: f.size,
    }
  }

  async readdir(hostPath: string): Promise<string[]> {
    const result = await this.op('readdir', [hostPath])
    if (result.exitCode !== 0) {
      const code = errnoFromStderr(result.stderr)
      if (code === 'ENOENT') return []
      throw remoteErrnoError(code, 'scandir', hostPath, this.host, result.stderr)
    }
    return result.stdout.split('\0').filter((name) => name.length > 0).sort()
  }

  async readlink(hostPath: string): Promise<string | undefined> {
    const result = await this.op('readlink', [hostPath])
    if (result.exitCode !== 0) return undefined
    return result.stdout.endsWith('\n') ? result.stdout.slice(0, -1) : result.stdout
  }

  async mkdir(hostPath: string, options: {mode?: number} = {}): Promise<void> {
    const mode = options.mode
    await this.must('mkdir', 'mkdir', hostPath, [hostPath, mode === undefined ? '' : mode.toString(8), mode === undefined ? '' : chmodMode(mode)])
  }

  async remove(hostPath: string, options: {recursive?: boolean} = {}): Promise<void> {
    await this.must('remove', 'rm', hostPath, [hostPath, options.recursive ? 'recursive' : ''])
  }

  async chmod(hostPath: string, mode: number): Promise<void> {
    await this.must('chmod', 'chmod', hostPath, [hostPath, chmodMode(mode)])
  }

  async chown(hostPath: string, uid: number, gid: number): Promise<void> {
    await this.must('chown', 'chown', hostPath, [hostPath, `${uid}:${gid}`])
  }

  async symlink(target: string, hostPath: string): Promise<void> {
    await this.must('symlink', 'symlink', hostPath, [target, hostPath])
  }

  async rename(fromHostPath: string, toHostPath: string): Promise<void> {
    await this.must('rename', 'rename', fromHostPath, [fromHostPath, toHostPath])
  }

  async canOpen(hostPath: string, mode: 'r' | 'w'): Promise<boolean> {
    return (await this.op('canOpen', [hostPath, mode])).exitCode === 0
  }
}

/** chmod(1) with five octal digits: like chmod(2), it also clears setuid/setgid on directories. */
function chmodMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(5, '0')
}

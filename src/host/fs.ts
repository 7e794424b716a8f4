/**
 * The one host-filesystem seam. Every read or write of a host file (sysfs, procfs, /dev, /etc,
 * the state directory, lab files) goes through a HostFs. RootedFs maps absolute host paths under
 * a configurable root, so tests point it at a fixture tree of /sys, /proc and /dev.
 */
import {randomBytes} from 'node:crypto'
import {constants} from 'node:fs'
import * as fsp from 'node:fs/promises'
import * as path from 'node:path'

import {VirtlabError} from '../errors.js'

export interface FileStat {
  isFile: boolean
  isDirectory: boolean
  isSymlink: boolean
  isCharDevice: boolean
  mode: number
  uid: number
  gid: number
  size: number
}

export interface WriteOptions {
  mode?: number
  /** Write to a temp file, fsync, rename: readers never see a partial file. */
  atomic?: boolean
  /** Create the file; fail with EEXIST when it already exists (O_EXCL). Not combined with atomic. */
  exclusive?: boolean
}

export interface MkdirOptions {
  /** The mode of a created directory; an existing one is set to it too unless keepExisting. */
  mode?: number
  /** An existing directory keeps its mode (render --out: the user's directory). */
  keepExisting?: boolean
  /**
   * virtlab's own directories (state dir, a lab's state dir): an existing one must be owned by
   * root (this process's uid) and not writable by group or others beyond `mode`, else refused.
   */
  secure?: boolean
}

export interface HostFs {
  /** The root every absolute path is mapped under ('/' on a real host). */
  readonly root: string
  /** Map a host path to the path on this machine (for handing to a child process). */
  resolve(hostPath: string): string
  readFile(hostPath: string): Promise<string>
  /** Read a file's raw bytes (kernels, libraries, archives). Optional so existing fakes keep compiling. */
  readBytes?(hostPath: string): Promise<Uint8Array>
  /** Write raw bytes (same options as writeFile). Optional so existing fakes keep compiling. */
  writeBytes?(hostPath: string, content: Uint8Array, options?: WriteOptions): Promise<void>
  /** Read a file, or undefined when it does not exist. */
  tryReadFile(hostPath: string): Promise<string | undefined>
  writeFile(hostPath: string, content: string, options?: WriteOptions): Promise<void>
  appendFile(hostPath: string, content: string): Promise<void>
  exists(hostPath: string): Promise<boolean>
  stat(hostPath: string): Promise<FileStat | undefined>
  readdir(hostPath: string): Promise<string[]>
  readlink(hostPath: string): Promise<string | undefined>
  /**
   * Create a directory and its parents. Never follows a symbolic link as the directory itself;
   * an existing one is checked (a real directory; with `secure`, its owner and mode).
   */
  mkdir(hostPath: string, options?: MkdirOptions): Promise<void>
  remove(hostPath: string, options?: {recursive?: boolean}): Promise<void>
  chmod(hostPath: string, mode: number): Promise<void>
  chown(hostPath: string, uid: number, gid: number): Promise<void>
  symlink(target: string, hostPath: string): Promise<void>
  rename(fromHostPath: string, toHostPath: string): Promise<void>
  /** Create a hard link (link(2): fails with EEXIST, never replaces newHostPath). */
  link(existingHostPath: string, newHostPath: string): Promise<void>
  /** Can this path be opened for writing (e.g. /dev/vhost-net)? */
  canOpen(hostPath: string, mode: 'r' | 'w'): Promise<boolean>
  /**
   * Read many files at once (one round trip on a remote transport): path -> text, undefined when
   * it cannot be read. Optional so fakes keep compiling: callers use readMany(fs, paths).
   */
  readMany?(hostPaths: readonly string[]): Promise<Map<string, string | undefined>>
  /** List many directories at once: dir -> sorted entries ([] when missing). Optional: use readdirMany(fs, dirs). */
  readdirMany?(hostPaths: readonly string[]): Promise<Map<string, string[]>>
  /** Stat many paths at once: path -> stat, undefined when missing. Optional: use statMany(fs, paths). */
  statMany?(hostPaths: readonly string[]): Promise<Map<string, FileStat | undefined>>
  /** Read many symlinks at once: path -> target, undefined when not a link. Optional: use readlinkMany(fs, paths). */
  readlinkMany?(hostPaths: readonly string[]): Promise<Map<string, string | undefined>>
}

/** Many files in one call (HostFs.readMany when the fs has it, else one read each). */
export async function readMany(fs: HostFs, hostPaths: readonly string[]): Promise<Map<string, string | undefined>> {
  if (hostPaths.length === 0) return new Map()
  if (fs.readMany) return fs.readMany(hostPaths)
  const out = new Map<string, string | undefined>()
  for (const p of hostPaths) out.set(p, await fs.tryReadFile(p).catch(() => undefined))
  return out
}

/** Many directories in one call (HostFs.readdirMany, else one readdir each). */
export async function readdirMany(fs: HostFs, hostPaths: readonly string[]): Promise<Map<string, string[]>> {
  if (hostPaths.length === 0) return new Map()
  if (fs.readdirMany) return fs.readdirMany(hostPaths)
  const out = new Map<string, string[]>()
  for (const p of hostPaths) out.set(p, await fs.readdir(p).catch(() => [] as string[]))
  return out
}

/** Many stats in one call (HostFs.statMany, else one stat each). */
export async function statMany(fs: HostFs, hostPaths: readonly string[]): Promise<Map<string, FileStat | undefined>> {
  if (hostPaths.length === 0) return new Map()
  if (fs.statMany) return fs.statMany(hostPaths)
  const out = new Map<string, FileStat | undefined>()
  for (const p of hostPaths) out.set(p, await fs.stat(p))
  return out
}

/** Many symlinks in one call (HostFs.readlinkMany, else one readlink each). */
export async function readlinkMany(fs: HostFs, hostPaths: readonly string[]): Promise<Map<string, string | undefined>> {
  if (hostPaths.length === 0) return new Map()
  if (fs.readlinkMany) return fs.readlinkMany(hostPaths)
  const out = new Map<string, string | undefined>()
  for (const p of hostPaths) out.set(p, await fs.readlink(p))
  return out
}

export class RootedFs implements HostFs {
  readonly root: string

  constructor(root = '/') {
    this.root = path.resolve(root)
  }

  resolve(hostPath: string): string {
    if (this.root === '/') return path.resolve(hostPath)
    const normal = path.posix.normalize('/' + hostPath)
    return path.join(this.root, normal)
  }

  async readFile(hostPath: string): Promise<string> {
    return fsp.readFile(this.resolve(hostPath), 'utf8')
  }

  async readBytes(hostPath: string): Promise<Uint8Array> {
    return fsp.readFile(this.resolve(hostPath))
  }

  async writeBytes(hostPath: string, content: Uint8Array, options: WriteOptions = {}): Promise<void> {
    await this.write(hostPath, content, options)
  }

  async tryReadFile(hostPath: string): Promise<string | undefined> {
    try {
      return await this.readFile(hostPath)
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw error
    }
  }

  async writeFile(hostPath: string, content: string, options: WriteOptions = {}): Promise<void> {
    await this.write(hostPath, content, options)
  }

  private async write(hostPath: string, content: string | Uint8Array, options: WriteOptions): Promise<void> {
    const target = this.resolve(hostPath)
    await this.checkParents(target, hostPath)
    if (!options.atomic) {
      // O_NOFOLLOW: a symbolic link planted at the target is never written through.
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (options.exclusive ? constants.O_EXCL : constants.O_TRUNC)
      const handle = await fsp.open(target, flags, options.mode ?? 0o666).catch((error: unknown) => {
        throw symlinkRefusal(error, hostPath)
      })
      try {
        await handle.writeFile(content)
      } catch (error) {
        await handle.close()
        // A file this call created (O_EXCL) is not left half-written (ENOSPC).
        if (options.exclusive) await fsp.rm(target, {force: true})
        throw error
      }
      await handle.close()
      return
    }
    const existing = await fsp.lstat(target).catch(() => undefined)
    if (existing?.isSymbolicLink()) throw unsafePath(hostPath, 'is a symbolic link', `remove ${hostPath} (virtlab does not write through symbolic links)`)
    // A random name, created exclusively and never through a link: nobody can plant it in advance.
    const temp = `${target}.tmp-${randomBytes(8).toString('hex')}`
    const handle = await fsp.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, options.mode ?? 0o600)
    try {
      await handle.writeFile(content)
      if (options.mode !== undefined) await handle.chmod(options.mode)
      await handle.sync()
    } catch (error) {
      await handle.close()
      await fsp.rm(temp, {force: true})
      throw error
    }
    await handle.close()
    await fsp.rename(temp, target).catch(async (error: unknown) => {
      await fsp.rm(temp, {force: true})
      throw error
    })
  }

  /**
   * Refuse a path that passes through a symbolic link someone other than root could have
   * planted: a link owned by another user, or one in a directory that group or others can write.
   * (System links such as /var/run -> /run, or sysfs's, are root's in root-only directories.)
   */
  private async checkParents(target: string, hostPath: string): Promise<void> {
    const base = this.root === '/' ? '' : this.root
    const rel = target.slice(base.length).split('/').filter(Boolean)
    const me = process.geteuid?.() ?? 0
    let dir = base === '' ? '/' : base
    for (const [i, part] of rel.slice(0, -1).entries()) {
      const next = path.join(dir, part)
      const st = await fsp.lstat(next).catch(() => undefined)
      if (st === undefined) return
      if (st.isSymbolicLink()) {
        const parent = await fsp.stat(dir).catch(() => undefined)
        const shown = '/' + rel.slice(0, i + 1).join('/')
        if ((st.uid !== 0 && st.uid !== me) || (parent !== undefined && (parent.mode & 0o022) !== 0)) {
          throw unsafePath(shown, `is a symbolic link ${st.uid !== 0 && st.uid !== me ? `owned by uid ${st.uid}` : 'in a directory others can write'} (on the way to ${hostPath})`, `remove ${shown}, or use a path without it`)
        }
      }
      dir = next
    }
  }

  async appendFile(hostPath: string, content: string): Promise<void> {
    await fsp.appendFile(this.resolve(hostPath), content)
  }

  async exists(hostPath: string): Promise<boolean> {
    try {
      await fsp.lstat(this.resolve(hostPath))
      return true
    } catch {
      return false
    }
  }

  async stat(hostPath: string): Promise<FileStat | undefined> {
    try {
      const s = await fsp.lstat(this.resolve(hostPath))
      const followed = s.isSymbolicLink() ? await fsp.stat(this.resolve(hostPath)).catch(() => s) : s
      return {
        isFile: followed.isFile(),
        isDirectory: followed.isDirectory(),
        isSymlink: s.isSymbolicLink(),
        isCharDevice: followed.isCharacterDevice(),
        mode: followed.mode,
        uid: followed.uid,
        gid: followed.gid,
        size: followed.size,
      }
    } catch {
      return undefined
    }
  }

  async readdir(hostPath: string): Promise<string[]> {
    try {
      return (await fsp.readdir(this.resolve(hostPath))).sort()
    } catch (error) {
      if (isNotFound(error)) return []
      throw error
    }
  }

  async readlink(hostPath: string): Promise<string | undefined> {
    try {
      return await fsp.readlink(this.resolve(hostPath))
    } catch {
      return undefined
    }
  }

  async mkdir(hostPath: string, options: MkdirOptions = {}): Promise<void> {
    const target = this.resolve(hostPath)
    await this.checkParents(target, hostPath)
    let created = false
    const existing = await fsp.lstat(target).catch((error: unknown) => {
      // A path under a file: mkdir(2) says ENOTDIR.
      if (errnoCode(error) === 'ENOTDIR') throw error
      return undefined
    })
    // Like mkdir(2) (and the SSH transport): an existing file that is not a directory is EEXIST.
    if (existing !== undefined && !existing.isDirectory() && !existing.isSymbolicLink()) {
      throw Object.assign(new Error(`EEXIST: file already exists, mkdir '${target}'`), {code: 'EEXIST', errno: -17, syscall: 'mkdir', path: target})
    }
    if (existing === undefined) {
      await fsp.mkdir(path.dirname(target), {recursive: true, ...(options.mode === undefined ? {} : {mode: options.mode})})
      try {
        await fsp.mkdir(target, options.mode === undefined ? {} : {mode: options.mode})
        created = true
      } catch (error) {
        if (errnoCode(error) !== 'EEXIST') throw error
      }
    }
    // Open the directory itself (never a link to one) and check or set its mode through the handle.
    const handle = await fsp.open(target, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW).catch((error: unknown) => {
      if (errnoCode(error) === 'ENOTDIR') throw unsafePath(hostPath, 'exists and is not a directory', `remove or rename ${hostPath}`)
      throw symlinkRefusal(error, hostPath)
    })
    try {
      const st = await handle.stat()
      if (!created && options.secure) {
        const me = process.geteuid?.() ?? 0
        const extra = st.mode & 0o022 & ~(options.mode ?? 0)
        if (st.uid !== me || extra !== 0) {
          throw unsafePath(hostPath, st.uid !== me ? `is owned by uid ${st.uid}, not ${me}` : `is writable by ${(st.mode & 0o020) !== 0 ? 'its group' : 'others'} (mode ${(st.mode & 0o7777).toString(8)})`,
            `chown ${me} ${hostPath} && chmod ${(options.mode ?? 0o755).toString(8)} ${hostPath} if it is virtlab's, or remove it`)
        }
      }
      if (options.mode !== undefined && (created || !options.keepExisting) && (st.mode & 0o7777) !== options.mode) await handle.chmod(options.mode)
    } finally {
      await handle.close()
    }
  }

  async remove(hostPath: string, options: {recursive?: boolean} = {}): Promise<void> {
    await fsp.rm(this.resolve(hostPath), {force: true, recursive: options.recursive ?? false})
  }

  async chmod(hostPath: string, mode: number): Promise<void> {
    const handle = await this.openNoFollow(hostPath)
    try {
      await handle.chmod(mode)
    } finally {
      await handle.close()
    }
  }

  async chown(hostPath: string, uid: number, gid: number): Promise<void> {
    const handle = await this.openNoFollow(hostPath)
    try {
      await handle.chown(uid, gid)
    } finally {
      await handle.close()
    }
  }

  /** The file itself, never what a symbolic link at its path points to (for chmod/chown through the handle). */
  private async openNoFollow(hostPath: string): Promise<fsp.FileHandle> {
    const target = this.resolve(hostPath)
    await this.checkParents(target, hostPath)
    return fsp.open(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((error: unknown) => {
      throw symlinkRefusal(error, hostPath)
    })
  }

  async symlink(target: string, hostPath: string): Promise<void> {
    await fsp.symlink(target, this.resolve(hostPath))
  }

  async rename(fromHostPath: string, toHostPath: string): Promise<void> {
    await fsp.rename(this.resolve(fromHostPath), this.resolve(toHostPath))
  }

  async link(existingHostPath: string, newHostPath: string): Promise<void> {
    await fsp.link(this.resolve(existingHostPath), this.resolve(newHostPath))
  }

  async canOpen(hostPath: string, mode: 'r' | 'w'): Promise<boolean> {
    try {
      await fsp.access(this.resolve(hostPath), mode === 'r' ? constants.R_OK : constants.W_OK)
      return true
    } catch {
      return false
    }
  }
}

/** A path virtlab refuses to follow or use: the path, why, and the fix. */
export function unsafePath(hostPath: string, why: string, fix: string): VirtlabError {
  return new VirtlabError('UNSAFE_PATH', `refusing ${hostPath}: it ${why}`, {hint: `Fix: ${fix}.`, details: {path: hostPath}})
}

/** ELOOP from O_NOFOLLOW: the path is a symbolic link. */
function symlinkRefusal(error: unknown, hostPath: string): unknown {
  return errnoCode(error) === 'ELOOP'
    ? unsafePath(hostPath, 'is a symbolic link', `remove ${hostPath} (virtlab does not follow symbolic links it did not make)`)
    : error
}

export function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as {code?: string}).code === 'ENOENT'
}

/** The errno code of a failed fs call ('EBUSY', 'ERANGE', ...), if any. */
export function errnoCode(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as {code?: unknown}).code : undefined
  return typeof code === 'string' ? code : undefined
}

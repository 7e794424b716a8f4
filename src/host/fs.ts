/**
 * The one host-filesystem seam. Every read or write of a host file (sysfs, procfs, /dev, /etc,
 * the state directory, lab files) goes through a HostFs. RootedFs maps absolute host paths under
 * a configurable root, so tests point it at a fixture tree of /sys, /proc and /dev.
 */
import {constants} from 'node:fs'
import * as fsp from 'node:fs/promises'
import * as path from 'node:path'

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
  /** Create the file; fail with EEXIST when it already exists (open flag 'wx'). Not combined with atomic. */
  exclusive?: boolean
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
  mkdir(hostPath: string, options?: {mode?: number}): Promise<void>
  remove(hostPath: string, options?: {recursive?: boolean}): Promise<void>
  chmod(hostPath: string, mode: number): Promise<void>
  chown(hostPath: string, uid: number, gid: number): Promise<void>
  symlink(target: string, hostPath: string): Promise<void>
  rename(fromHostPath: string, toHostPath: string): Promise<void>
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
    if (!options.atomic) {
      const flag = options.exclusive ? 'wx' : 'w'
      await fsp.writeFile(target, content, options.mode === undefined ? {flag} : {flag, mode: options.mode})
      return
    }
    const temp = `${target}.tmp-${process.pid}`
    const handle = await fsp.open(temp, 'w', options.mode ?? 0o600)
    try {
      await handle.writeFile(content)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await fsp.rename(temp, target)
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

  async mkdir(hostPath: string, options: {mode?: number} = {}): Promise<void> {
    await fsp.mkdir(this.resolve(hostPath), {recursive: true, ...(options.mode === undefined ? {} : {mode: options.mode})})
    if (options.mode !== undefined) await fsp.chmod(this.resolve(hostPath), options.mode)
  }

  async remove(hostPath: string, options: {recursive?: boolean} = {}): Promise<void> {
    await fsp.rm(this.resolve(hostPath), {force: true, recursive: options.recursive ?? false})
  }

  async chmod(hostPath: string, mode: number): Promise<void> {
    await fsp.chmod(this.resolve(hostPath), mode)
  }

  async chown(hostPath: string, uid: number, gid: number): Promise<void> {
    await fsp.chown(this.resolve(hostPath), uid, gid)
  }

  async symlink(target: string, hostPath: string): Promise<void> {
    await fsp.symlink(target, this.resolve(hostPath))
  }

  async rename(fromHostPath: string, toHostPath: string): Promise<void> {
    await fsp.rename(this.resolve(fromHostPath), this.resolve(toHostPath))
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

export function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as {code?: string}).code === 'ENOENT'
}

/** The errno code of a failed fs call ('EBUSY', 'ERANGE', ...), if any. */
export function errnoCode(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as {code?: unknown}).code : undefined
  return typeof code === 'string' ? code : undefined
}

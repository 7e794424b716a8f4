/**
 * A cpio "newc" (SVR4 without CRC) archive writer, the format the Linux kernel unpacks as an
 * initramfs. Pure: entries in, bytes out. Deterministic: entries are sorted by path, every parent
 * directory is emitted before its children, inode numbers are assigned in order, mtime is 0,
 * owner is root.
 *
 * Layout of one entry: a 110-byte ASCII header ("070701" then 13 fields of 8 hex digits), the
 * path (no leading slash) with a trailing NUL, padding to a multiple of 4, the data, padding to a
 * multiple of 4. The archive ends with an entry named "TRAILER!!!".
 */
import {gzipSync} from 'node:zlib'

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const S_IFCHR = 0o020000

export type CpioEntry =
  | {type: 'file'; path: string; data: Uint8Array; mode?: number}
  | {type: 'dir'; path: string; mode?: number}
  | {type: 'symlink'; path: string; target: string}
  | {type: 'chardev'; path: string; major: number; minor: number; mode?: number}

/** Normalise an archive path: no leading slash, no '.' or empty components. */
export function archivePath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.')
  if (parts.some((p) => p === '..')) throw new Error(`cpio: '..' in path ${path}`)
  return parts.join('/')
}

/**
 * A set of entries keyed by path. Adding a path twice keeps the last one (so a caller can
 * override, e.g. a library reached through two names). Parent directories are implied.
 */
export class CpioTree {
  private readonly entries = new Map<string, CpioEntry>()

  add(entry: CpioEntry): this {
    const path = archivePath(entry.path)
    if (path === '') throw new Error('cpio: empty path')
    this.entries.set(path, {...entry, path})
    return this
  }

  file(path: string, data: Uint8Array, mode = 0o644): this {
    return this.add({type: 'file', path, data, mode})
  }

  dir(path: string, mode = 0o755): this {
    return this.add({type: 'dir', path, mode})
  }

  symlink(path: string, target: string): this {
    return this.add({type: 'symlink', path, target})
  }

  chardev(path: string, major: number, minor: number, mode = 0o600): this {
    return this.add({type: 'chardev', path, major, minor, mode})
  }

  has(path: string): boolean {
    return this.entries.has(archivePath(path))
  }

  get(path: string): CpioEntry | undefined {
    return this.entries.get(archivePath(path))
  }

  /** Every entry, implied parent directories added, sorted so parents precede children. */
  list(): CpioEntry[] {
    const all = new Map(this.entries)
    for (const path of this.entries.keys()) {
      const parts = path.split('/')
      for (let i = 1; i < parts.length; i++) {
        const parent = parts.slice(0, i).join('/')
        const existing = all.get(parent)
        if (existing === undefined) all.set(parent, {type: 'dir', path: parent, mode: 0o755})
        else if (existing.type !== 'dir') throw new Error(`cpio: ${parent} is a ${existing.type} but ${path} is inside it`)
      }
    }
    // Sorting by path components puts every directory right before its contents.
    return [...all.values()].sort((a, b) => compareComponents(a.path, b.path))
  }

  /** Total size of the file data (uncompressed). */
  dataSize(): number {
    let size = 0
    for (const entry of this.entries.values()) if (entry.type === 'file') size += entry.data.length
    return size
  }
}

function compareComponents(a: string, b: string): number {
  const pa = a.split('/')
  const pb = b.split('/')
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string
    const y = pb[i] as string
    if (x !== y) return x < y ? -1 : 1
  }
  return pa.length - pb.length
}

function hex8(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`cpio: field out of range: ${value}`)
  return value.toString(16).padStart(8, '0')
}

function pad4(length: number): number {
  return (4 - (length % 4)) % 4
}

interface RawEntry {
  name: string
  mode: number
  data: Uint8Array
  nlink: number
  rdevMajor: number
  rdevMinor: number
}

function rawEntry(entry: CpioEntry): RawEntry {
  switch (entry.type) {
    case 'file':
      return {name: entry.path, mode: S_IFREG | (entry.mode ?? 0o644), data: entry.data, nlink: 1, rdevMajor: 0, rdevMinor: 0}
    case 'dir':
      return {name: entry.path, mode: S_IFDIR | (entry.mode ?? 0o755), data: new Uint8Array(0), nlink: 2, rdevMajor: 0, rdevMinor: 0}
    case 'symlink':
      return {name: entry.path, mode: S_IFLNK | 0o777, data: new TextEncoder().encode(entry.target), nlink: 1, rdevMajor: 0, rdevMinor: 0}
    case 'chardev':
      return {name: entry.path, mode: S_IFCHR | (entry.mode ?? 0o600), data: new Uint8Array(0), nlink: 1, rdevMajor: entry.major, rdevMinor: entry.minor}
  }
}

function encodeEntry(raw: RawEntry, ino: number): Uint8Array[] {
  const name = new TextEncoder().encode(raw.name + '\0')
  const header = '070701' + [
    ino,
    raw.mode,
    0, // uid
    0, // gid
    raw.nlink,
    0, // mtime
    raw.data.length,
    0, // devmajor
    0, // devminor
    raw.rdevMajor,
    raw.rdevMinor,
    name.length,
    0, // check (unused by newc)
  ].map(hex8).join('')
  return [
    new TextEncoder().encode(header),
    name,
    new Uint8Array(pad4(110 + name.length)),
    raw.data,
    new Uint8Array(pad4(raw.data.length)),
  ]
}

/** The uncompressed newc archive. */
export function writeCpio(entries: readonly CpioEntry[]): Uint8Array {
  const chunks: Uint8Array[] = []
  let ino = 1
  for (const entry of entries) chunks.push(...encodeEntry(rawEntry(entry), ino++))
  chunks.push(...encodeEntry({name: 'TRAILER!!!', mode: 0, data: new Uint8Array(0), nlink: 1, rdevMajor: 0, rdevMinor: 0}, 0))
  return Buffer.concat(chunks)
}

/** The gzip-compressed archive (a kernel-loadable initramfs). */
export function writeInitramfs(tree: CpioTree, level = 9): Uint8Array {
  return gzipSync(writeCpio(tree.list()), {level})
}

/**
 * SimKernelFs: a HostFs over a simulated host tree that behaves like the kernel on writes.
 * Writes to kernel attributes (sriov_numvfs, driver_override, bind/unbind, drivers_probe, new_id,
 * vdpa bind/unbind, ...) go through the rules in kernel.mjs, the same module the fake `ip`,
 * `vdpa`, `devlink`, `modprobe` and `ovs-vsctl` use; they throw errors with the kernel's errno
 * (err.code = 'EBUSY', 'ERANGE', ...). Every other call is RootedFs's.
 */
import {type FileStat, type HostFs, RootedFs, type WriteOptions} from '../../src/host/fs.js'
import {errnoError, sysfsWrite} from './kernel.mjs'

export interface SimKernelFsOptions {
  /** Refuse every sysfs write: 'EACCES' (not root), 'EROFS' (read-only sysfs, e.g. a container), 'EPERM'. */
  denySysfsWrites?: 'EACCES' | 'EROFS' | 'EPERM'
  /** Called with every write (host path, value): tests record what virtlab wrote. */
  onWrite?: (hostPath: string, value: string) => void
  /** Make the n-th sysfs write (1-based) fail with this errno: fault injection. */
  failWrite?: {nth: number; code: string}
}

export class SimKernelFs implements HostFs {
  readonly root: string
  private readonly inner: RootedFs
  private sysfsWrites = 0

  constructor(root: string, private readonly options: SimKernelFsOptions = {}) {
    this.inner = new RootedFs(root)
    this.root = this.inner.root
  }

  resolve(hostPath: string): string {
    return this.inner.resolve(hostPath)
  }

  readFile(hostPath: string): Promise<string> {
    return this.inner.readFile(hostPath)
  }

  readBytes(hostPath: string): Promise<Uint8Array> {
    return this.inner.readBytes(hostPath)
  }

  async writeBytes(hostPath: string, content: Uint8Array, options?: WriteOptions): Promise<void> {
    if (hostPath.startsWith('/sys/')) return this.writeFile(hostPath, Buffer.from(content).toString('utf8'), options)
    return this.inner.writeBytes(hostPath, content, options)
  }

  tryReadFile(hostPath: string): Promise<string | undefined> {
    return this.inner.tryReadFile(hostPath)
  }

  async writeFile(hostPath: string, content: string, options?: WriteOptions): Promise<void> {
    this.options.onWrite?.(hostPath, content)
    if (hostPath.startsWith('/sys/')) {
      this.sysfsWrites++
      if (this.options.denySysfsWrites) throw errnoError(this.options.denySysfsWrites, hostPath)
      if (this.options.failWrite && this.options.failWrite.nth === this.sysfsWrites) throw errnoError(this.options.failWrite.code, hostPath, 'injected')
      // sysfs attributes are written in place, never through a temp file.
      if (sysfsWrite(this.root, hostPath, content)) return
      return this.inner.writeFile(hostPath, content, {...options, atomic: false})
    }
    return this.inner.writeFile(hostPath, content, options)
  }

  appendFile(hostPath: string, content: string): Promise<void> {
    return this.inner.appendFile(hostPath, content)
  }

  exists(hostPath: string): Promise<boolean> {
    return this.inner.exists(hostPath)
  }

  stat(hostPath: string): Promise<FileStat | undefined> {
    return this.inner.stat(hostPath)
  }

  readdir(hostPath: string): Promise<string[]> {
    return this.inner.readdir(hostPath)
  }

  readlink(hostPath: string): Promise<string | undefined> {
    return this.inner.readlink(hostPath)
  }

  mkdir(hostPath: string, options?: {mode?: number}): Promise<void> {
    return this.inner.mkdir(hostPath, options)
  }

  remove(hostPath: string, options?: {recursive?: boolean}): Promise<void> {
    return this.inner.remove(hostPath, options)
  }

  chmod(hostPath: string, mode: number): Promise<void> {
    return this.inner.chmod(hostPath, mode)
  }

  chown(hostPath: string, uid: number, gid: number): Promise<void> {
    return this.inner.chown(hostPath, uid, gid)
  }

  symlink(target: string, hostPath: string): Promise<void> {
    return this.inner.symlink(target, hostPath)
  }

  link(existingHostPath: string, newHostPath: string): Promise<void> {
    return this.inner.link(existingHostPath, newHostPath)
  }

  rename(fromHostPath: string, toHostPath: string): Promise<void> {
    return this.inner.rename(fromHostPath, toHostPath)
  }

  canOpen(hostPath: string, mode: 'r' | 'w'): Promise<boolean> {
    return this.inner.canOpen(hostPath, mode)
  }
}

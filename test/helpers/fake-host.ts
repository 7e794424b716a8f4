/**
 * FakeHost: a small stateful model of a Linux host for the commands virtlab issues, plus a
 * root directory (RootedFs) for its files. A FakeRunner built with `host.runner()` answers every
 * command from the model and updates it, so a test can run `up`, fail it anywhere, roll back, and
 * compare `snapshot()` with the snapshot taken before. The behaviour is specified in fake-host.md.
 */
import * as nodefs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import type {Context, ProgressEvent} from '../../src/app/context.js'
import {testContext} from './context.js'
import {RootedFs} from '../../src/host/fs.js'
import type {RunOptions, RunResult} from '../../src/host/runner.js'
import {FakeRunner} from './fake-runner.js'

export interface FakeLink {
  name: string
  /** '' is the host's namespace. */
  ns: string
  kind: 'tap' | 'veth' | 'bridge' | 'dummy' | 'physical'
  master: string | undefined
  up: boolean
  addresses: string[]
  /** veth only: the peer's name and namespace. */
  peer: {name: string; ns: string} | undefined
  /** `ip link set dev X alias TEXT` (ifalias). */
  alias?: string
  index: number
}

type Columns = Record<string, string | Record<string, string>>

interface OvsRecord {
  columns: Columns
}

interface OvsDb {
  bridges: Map<string, OvsRecord & {ports: string[]}>
  ports: Map<string, OvsRecord>
  interfaces: Map<string, OvsRecord>
  openvswitch: OvsRecord
}

export interface FakeProcess {
  pid: number
  argv: string[]
  /** Pidfiles it removes when it exits (daemons do). */
  pidfiles: string[]
  /** Files removed when it exits (unix sockets). */
  sockets: string[]
  onExit?: () => void
}

interface Domain {
  name: string
  xml: string
  persistent: boolean
  pid: number | undefined
}

export interface FakeHostOptions {
  /** A system ovsdb-server/ovs-vswitchd is running (ovs-vsctl without --db works). */
  systemOvs?: boolean
  /** libvirtd is reachable (virsh works). */
  libvirt?: boolean
  /** Modules modprobe cannot find. */
  missingModules?: string[]
  /** Extra files to create: host path -> content. */
  files?: Record<string, string>
  /** Extra directories to create. */
  dirs?: string[]
  /** Start without /run/virtlab (a fresh host: `up` creates it and removes it at down). Default: it exists. */
  freshRunBase?: boolean
}

const ok = (argv: readonly string[], stdout = ''): RunResult => ({argv, exitCode: 0, stdout, stderr: ''})
const fail = (argv: readonly string[], stderr: string, exitCode = 1): RunResult => ({argv, exitCode, stdout: '', stderr: stderr.endsWith('\n') ? stderr : stderr + '\n'})

class CommandError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message)
  }
}

export class FakeHost {
  readonly root: string
  readonly fs: RootedFs
  readonly netns = new Set<string>()
  readonly links: FakeLink[] = []
  readonly modules = new Set<string>()
  readonly mounts: {source: string; target: string; type: string; options: string}[] = []
  readonly processes = new Map<number, FakeProcess>()
  readonly domains = new Map<string, Domain>()
  /** OVS databases by db file ('system' for the system instance). */
  readonly ovsDbs = new Map<string, OvsDb>()
  /** Running ovsdb-servers: socket path -> db file. */
  readonly ovsSockets = new Map<string, string>()
  libvirtRunning: boolean
  private readonly missingModules: Set<string>
  private nextPid = 40_000
  private nextIndex = 10

  constructor(options: FakeHostOptions = {}) {
    this.root = nodefs.mkdtempSync(path.join(os.tmpdir(), 'virtlab-fakehost-'))
    this.fs = new RootedFs(this.root)
    this.libvirtRunning = options.libvirt ?? true
    this.missingModules = new Set(options.missingModules ?? [])
    if (options.systemOvs) {
      this.ovsDbs.set('system', emptyDb())
      this.ovsSockets.set('system', 'system')
    }
    for (const dir of ['/proc', '/run', '/run/netns', ...(options.freshRunBase ? [] : ['/run/virtlab']), '/run/libvirt/qemu', '/sys/module', '/etc', '/var/lib', '/var/run', '/proc/sys/vm', '/sys/kernel/mm/hugepages/hugepages-2048kB', ...(options.dirs ?? [])]) {
      nodefs.mkdirSync(this.fs.resolve(dir), {recursive: true})
    }
    const files: Record<string, string> = {
      '/proc/sys/vm/nr_hugepages': '0\n',
      '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages': '0\n',
      '/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages': '0\n',
      '/etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nlibvirt-qemu:x:64055:108:Libvirt Qemu,,,:/var/lib/libvirt:/usr/sbin/nologin\n',
      '/etc/group': 'root:x:0:\nkvm:x:108:\nlibvirt-qemu:x:64055:\n',
      // Device nodes stand in as plain files under a fixture root.
      '/dev/net/tun': '',
      '/dev/vhost-net': '',
      '/proc/mounts': '',
      ...options.files,
    }
    for (const [file, content] of Object.entries(files)) this.writeHostFile(file, content)
    this.links.push({name: 'lo', ns: '', kind: 'physical', master: undefined, up: true, addresses: ['127.0.0.1/8'], peer: undefined, index: 1})
    this.links.push({name: 'eth0', ns: '', kind: 'physical', master: undefined, up: true, addresses: [], peer: undefined, index: 2})
  }

  /** A FakeRunner answering from this host. */
  runner(): FakeRunner {
    return new FakeRunner((argv, options) => this.exec(argv, options))
  }

  /** A Context on this host (state dir /var/lib/virtlab, run base /run/virtlab inside the root). */
  context(runner: FakeRunner = this.runner(), events: ProgressEvent[] = []): Context & {runner: FakeRunner; events: ProgressEvent[]} {
    return {
      ...testContext({runner, fs: this.fs, progress: (event) => events.push(event)}),
      runner,
      events,
    }
  }

  cleanup(): void {
    nodefs.rmSync(this.root, {recursive: true, force: true})
  }

  writeHostFile(file: string, content: string): void {
    nodefs.mkdirSync(path.dirname(this.fs.resolve(file)), {recursive: true})
    nodefs.writeFileSync(this.fs.resolve(file), content)
  }

  readHostFile(file: string): string | undefined {
    try {
      return nodefs.readFileSync(this.fs.resolve(file), 'utf8')
    } catch {
      return undefined
    }
  }

  // ------------------------------------------------------------------ processes

  /** Start a fake process: /proc/<pid>/cmdline appears; pidfile written when given. */
  spawn(argv: string[], options: {pidfile?: string | undefined; sockets?: string[]; onExit?: () => void} = {}): FakeProcess {
    const pid = this.nextPid++
    const proc: FakeProcess = {pid, argv, pidfiles: options.pidfile ? [options.pidfile] : [], sockets: options.sockets ?? [], ...(options.onExit ? {onExit: options.onExit} : {})}
    this.processes.set(pid, proc)
    this.writeHostFile(`/proc/${pid}/cmdline`, argv.join('\0') + '\0')
    if (options.pidfile) this.writeHostFile(options.pidfile, `${pid}\n`)
    for (const socket of proc.sockets) this.writeHostFile(socket, '')
    return proc
  }

  kill(pid: number): boolean {
    const proc = this.processes.get(pid)
    if (!proc) return false
    this.processes.delete(pid)
    nodefs.rmSync(this.fs.resolve(`/proc/${pid}`), {recursive: true, force: true})
    for (const file of [...proc.pidfiles, ...proc.sockets]) nodefs.rmSync(this.fs.resolve(file), {force: true})
    proc.onExit?.()
    return true
  }

  // ------------------------------------------------------------------ snapshot

  /**
   * Everything observable: namespaces, links, modules, mounts, processes, domains, OVS databases
   * and every file under the root except the given prefixes (default: virtlab's state dir).
   */
  snapshot(exclude: string[] = ['/var/lib/virtlab']): unknown {
    const files: Record<string, string> = {}
    const walk = (hostDir: string): void => {
      for (const name of nodefs.readdirSync(this.fs.resolve(hostDir)).sort()) {
        const hostPath = path.posix.join(hostDir, name)
        if (exclude.some((e) => hostPath === e || hostPath.startsWith(e + '/'))) continue
        const st = nodefs.lstatSync(this.fs.resolve(hostPath))
        if (st.isDirectory()) {
          files[hostPath + '/'] = `dir ${(st.mode & 0o7777).toString(8)}`
          walk(hostPath)
        } else {
          const content = nodefs.readFileSync(this.fs.resolve(hostPath), 'utf8')
          // Kernel files (procfs, sysfs) read back a written value with a newline whatever was written.
          files[hostPath] = /^\/(proc|sys)\//.test(hostPath) ? content.trim() : content
        }
      }
    }
    walk('/')
    const db = (d: OvsDb) => ({
      bridges: Object.fromEntries([...d.bridges].map(([k, v]) => [k, v])),
      ports: Object.fromEntries(d.ports),
      interfaces: Object.fromEntries(d.interfaces),
      openvswitch: d.openvswitch,
    })
    return structuredClone({
      netns: [...this.netns].sort(),
      links: [...this.links].map(({index: _i, ...l}) => l).sort((a, b) => `${a.ns}/${a.name}`.localeCompare(`${b.ns}/${b.name}`)),
      modules: [...this.modules].sort(),
      mounts: this.mounts,
      processes: [...this.processes.values()].map((p) => p.argv),
      domains: [...this.domains.values()].map((d) => ({...d, pid: d.pid === undefined ? undefined : 'running'})),
      ovs: Object.fromEntries([...this.ovsDbs].filter(([k]) => this.dbFileExists(k)).map(([k, v]) => [k, db(v)])),
      ovsSockets: Object.fromEntries(this.ovsSockets),
      files,
    })
  }

  /** An OVS database exists while its file does ('system' always). */
  private dbFileExists(dbFile: string): boolean {
    return dbFile === 'system' || nodefs.existsSync(this.fs.resolve(dbFile))
  }

  // ------------------------------------------------------------------ dispatch

  async exec(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    try {
      return this.dispatch([...argv], '', options)
    } catch (error) {
      if (error instanceof CommandError) return fail(argv, error.message, error.exitCode)
      throw error
    }
  }

  private dispatch(argv: string[], ns: string, options: RunOptions): RunResult {
    const [program, ...args] = argv
    const base = path.posix.basename(program ?? '')
    switch (base) {
      case 'ip': return this.ip(argv, args, ns, options)
      case 'ovs-vsctl': return this.ovsVsctl(argv, args, options)
      case 'ovsdb-tool': return this.ovsdbTool(argv, args)
      case 'ovsdb-server': return this.ovsdbServer(argv, args, options)
      case 'ovs-vswitchd':
      case 'ovs-vswitchd-dpdk': return this.ovsVswitchd(argv, args, options)
      case 'virsh': return this.virsh(argv, args)
      case 'modprobe': return this.modprobe(argv, args)
      case 'mount': return this.mount(argv, args)
      case 'umount': return this.umount(argv, args)
      case 'mountpoint': return this.mountpoint(argv, args)
      case 'pkill':
      case 'pgrep': return this.pkill(argv, args, base === 'pkill')
      case 'kill': return this.killCmd(argv, args)
      case 'qemu-system-x86_64': return this.qemu(argv)
      case 'taskset': {
        // taskset [-a] -c LIST cmd... | taskset MASK cmd...
        const rest = [...args]
        if (rest[0] === '-a') rest.shift()
        if (rest[0] === '-c' || rest[0] === '--cpu-list') rest.splice(0, 2)
        else rest.shift()
        return this.dispatch(rest, ns, options)
      }
      case 'findmnt': return this.findmnt(argv, args)
      case 'grep': return this.grep(argv, args)
      case 'rmdir': return this.rmdir(argv, args)
      case 'true': return ok(argv)
      case 'false': return fail(argv, '')
      default:
        return fail(argv, `${program}: command not found (FakeHost does not model it)`, 127)
    }
  }

  // ------------------------------------------------------------------ ip

  private findLink(name: string, ns: string): FakeLink | undefined {
    return this.links.find((l) => l.name === name && l.ns === ns)
  }

  private needLink(name: string, ns: string): FakeLink {
    const link = this.findLink(name, ns)
    if (!link) throw new CommandError(`Cannot find device "${name}"`)
    return link
  }

  private addLink(link: Omit<FakeLink, 'index' | 'up' | 'addresses' | 'master'>): void {
    if (link.name.length > 15) throw new CommandError(`Error: argument "${link.name}" is wrong: "name" not a valid ifname`, 255)
    if (this.findLink(link.name, link.ns)) throw new CommandError('RTNETLINK answers: File exists', 2)
    this.links.push({...link, master: undefined, up: false, addresses: [], index: this.nextIndex++})
  }

  private removeLink(link: FakeLink): void {
    const i = this.links.indexOf(link)
    if (i >= 0) this.links.splice(i, 1)
    if (link.kind === 'bridge') for (const l of this.links) if (l.ns === link.ns && l.master === link.name) l.master = undefined
    if (link.peer) {
      const peer = this.findLink(link.peer.name, link.peer.ns)
      if (peer) this.removeLink(peer)
    }
  }

  private ip(argv: string[], args: string[], nsIn: string, options: RunOptions = {}): RunResult {
    let ns = nsIn
    let oneline = false
    const rest = [...args]
    while (rest[0]?.startsWith('-')) {
      const opt = rest.shift() as string
      if (opt === '-o' || opt === '-oneline') oneline = true
      else if (opt === '-batch' || opt === '-b') {
        // `ip -batch -`: one command per stdin line, stopping at the first that fails (no -force).
        if (rest.shift() !== '-') throw new CommandError('FakeHost models only `ip -batch -`', 255)
        let out = ''
        for (const [i, line] of (options.input ?? '').split('\n').entries()) {
          const words = line.trim().split(/\s+/).filter(Boolean)
          if (words.length === 0) continue
          const r = this.ip(['ip', ...words], words, ns)
          out += r.stdout
          if (r.exitCode !== 0) return {argv, exitCode: 1, stdout: out, stderr: `${r.stderr}Command failed -:${i + 1}\n`}
        }
        return ok(argv, out)
      }
      else if (opt === '-n' || opt === '-netns') ns = this.needNs(rest.shift() ?? '')
      else if (opt === '-d' || opt === '-details') continue
      else throw new CommandError(`Option "${opt}" is unknown (FakeHost)`, 255)
    }
    const [object, verb, ...params] = rest
    switch (object) {
      case 'netns': return this.ipNetns(argv, verb, params, ns)
      case 'link': return this.ipLink(argv, verb ?? 'show', params, ns, oneline)
      case 'tuntap': return this.ipTuntap(argv, verb, params, ns)
      case 'addr':
      case 'address': return this.ipAddr(argv, verb ?? 'show', params, ns)
      default: throw new CommandError(`Object "${object}" is unknown (FakeHost)`, 255)
    }
  }

  private needNs(name: string): string {
    if (!this.netns.has(name)) throw new CommandError(`Cannot open network namespace "${name}": No such file or directory`, 255)
    return name
  }

  private ipNetns(argv: string[], verb: string | undefined, params: string[], _ns: string): RunResult {
    const name = params[0] ?? ''
    switch (verb) {
      case undefined:
      case 'list':
      case 'show':
        return ok(argv, [...this.netns].sort().map((n) => `${n}\n`).join(''))
      case 'add':
        if (this.netns.has(name)) throw new CommandError(`Cannot create namespace file "/run/netns/${name}": File exists`)
        this.netns.add(name)
        this.writeHostFile(`/run/netns/${name}`, '')
        this.links.push({name: 'lo', ns: name, kind: 'physical', master: undefined, up: false, addresses: [], peer: undefined, index: 1})
        return ok(argv)
      case 'del':
      case 'delete':
        if (!this.netns.has(name)) throw new CommandError(`Cannot remove namespace file "/run/netns/${name}": No such file or directory`)
        this.netns.delete(name)
        nodefs.rmSync(this.fs.resolve(`/run/netns/${name}`), {force: true})
        for (const link of this.links.filter((l) => l.ns === name)) {
          // Physical devices go back to the host; virtual ones die with the namespace.
          if (link.kind === 'physical' && link.name !== 'lo') link.ns = ''
          else this.removeLink(link)
        }
        return ok(argv)
      case 'exec':
        return this.dispatch(params.slice(1), this.needNs(name), {})
      default:
        throw new CommandError(`Command "${verb}" is unknown, try "ip netns help".`)
    }
  }

  private showLink(l: FakeLink, oneline: boolean): string {
    const flags = l.up ? 'BROADCAST,MULTICAST,UP,LOWER_UP' : 'BROADCAST,MULTICAST'
    const name = l.peer ? `${l.name}@${l.peer.ns === l.ns ? l.peer.name : 'if' + String(this.findLink(l.peer.name, l.peer.ns)?.index ?? 0)}` : l.name
    const master = l.master ? ` master ${l.master}` : ''
    const sep = oneline ? '\\    ' : '\n    '
    return `${l.index}: ${name}: <${flags}> mtu 1500 qdisc noqueue${master} state ${l.up ? 'UP' : 'DOWN'} mode DEFAULT group default qlen 1000${sep}link/ether 52:54:00:00:00:${(l.index % 256).toString(16).padStart(2, '0')} brd ff:ff:ff:ff:ff:ff${l.alias === undefined ? '' : `${sep}alias ${l.alias}`}\n`
  }

  private ipLink(argv: string[], verb: string, params: string[], ns: string, oneline: boolean): RunResult {
    const p = [...params]
    const take = (): string => {
      if (p[0] === 'dev' || p[0] === 'name') p.shift()
      return p.shift() ?? ''
    }
    switch (verb) {
      case 'show':
      case 'list': {
        let links = this.links.filter((l) => l.ns === ns)
        while (p.length > 0) {
          const word = p.shift()
          if (word === 'master') {
            const m = p.shift() ?? ''
            this.needLink(m, ns)
            links = links.filter((l) => l.master === m)
          } else if (word === 'type') {
            const t = p.shift()
            links = links.filter((l) => l.kind === t)
          } else {
            const name = word === 'dev' ? (p.shift() ?? '') : (word ?? '')
            const link = this.findLink(name, ns)
            if (!link) throw new CommandError(`Device "${name}" does not exist.`)
            links = [link]
          }
        }
        return ok(argv, links.sort((a, b) => a.index - b.index).map((l) => this.showLink(l, oneline)).join(''))
      }
      case 'add': {
        const name = take()
        const typeAt = p.indexOf('type')
        const type = typeAt >= 0 ? p[typeAt + 1] : undefined
        if (type === 'bridge' || type === 'dummy') {
          this.addLink({name, ns, kind: type, peer: undefined})
        } else if (type === 'veth') {
          const peerAt = p.indexOf('name', typeAt)
          const peer = peerAt >= 0 ? (p[peerAt + 1] ?? '') : `veth${this.nextIndex}`
          const peerNsAt = p.indexOf('netns', typeAt)
          const peerNs = peerNsAt >= 0 ? this.needNs(p[peerNsAt + 1] ?? '') : ns
          if (this.findLink(peer, peerNs)) throw new CommandError('RTNETLINK answers: File exists', 2)
          this.addLink({name, ns, kind: 'veth', peer: {name: peer, ns: peerNs}})
          this.addLink({name: peer, ns: peerNs, kind: 'veth', peer: {name, ns}})
        } else {
          throw new CommandError(`Error: Unknown device type "${type}" (FakeHost models bridge, dummy, veth).`, 2)
        }
        return ok(argv)
      }
      case 'del':
      case 'delete': {
        const name = take()
        this.removeLink(this.needLink(name, ns))
        return ok(argv)
      }
      case 'set': {
        const name = take()
        const link = this.needLink(name, ns)
        while (p.length > 0) {
          const word = p.shift()
          if (word === 'up') link.up = true
          else if (word === 'down') link.up = false
          else if (word === 'master') {
            const m = this.needLink(p.shift() ?? '', ns)
            if (m.kind !== 'bridge') throw new CommandError('Error: Device does not allow enslaving to a master.', 2)
            link.master = m.name
          } else if (word === 'nomaster') link.master = undefined
          else if (word === 'netns') {
            const target = this.needNs(p.shift() ?? '')
            if (this.findLink(link.name, target)) throw new CommandError('RTNETLINK answers: File exists', 2)
            link.ns = target
            link.master = undefined
            link.up = false
          } else if (word === 'alias') link.alias = p.shift() ?? ''
          else if (word === 'mtu' || word === 'address' || word === 'txqueuelen') p.shift()
          else throw new CommandError(`Error: argument "${word}" is wrong (FakeHost)`, 255)
        }
        return ok(argv)
      }
      default:
        throw new CommandError(`Command "${verb}" is unknown, try "ip link help".`, 255)
    }
  }

  private ipTuntap(argv: string[], verb: string | undefined, params: string[], ns: string): RunResult {
    const p = [...params]
    if (p[0] === 'dev' || p[0] === 'name') p.shift()
    const name = p.shift() ?? ''
    const modeAt = p.indexOf('mode')
    const mode = modeAt >= 0 ? p[modeAt + 1] : undefined
    if (mode !== 'tap' && mode !== 'tun') throw new CommandError('You failed to specify a tunnel mode', 1)
    if (verb === 'add') {
      if (this.findLink(name, ns)) throw new CommandError('ioctl(TUNSETIFF): Device or resource busy')
      this.addLink({name, ns, kind: 'tap', peer: undefined})
      return ok(argv)
    }
    if (verb === 'del' || verb === 'delete') {
      const link = this.findLink(name, ns)
      // The kernel's tuntap del of an absent device succeeds silently (it creates and deletes a non-persistent one).
      if (link) this.removeLink(link)
      return ok(argv)
    }
    throw new CommandError(`Command "${verb}" is unknown, try "ip tuntap help".`)
  }

  private ipAddr(argv: string[], verb: string, params: string[], ns: string): RunResult {
    const devAt = params.indexOf('dev')
    const dev = devAt >= 0 ? (params[devAt + 1] ?? '') : ''
    if (verb === 'show') {
      const links = dev ? [this.needLink(dev, ns)] : this.links.filter((l) => l.ns === ns)
      return ok(argv, links.map((l) => `${l.index}: ${l.name}: <${l.up ? 'UP' : ''}>\n${l.addresses.map((a) => `    inet ${a} scope global ${l.name}\n`).join('')}`).join(''))
    }
    const address = params[0] ?? ''
    const link = this.needLink(dev, ns)
    if (verb === 'add') {
      if (link.addresses.includes(address)) throw new CommandError('RTNETLINK answers: File exists', 2)
      link.addresses.push(address)
      return ok(argv)
    }
    if (verb === 'del' || verb === 'delete') {
      if (!link.addresses.includes(address)) throw new CommandError('RTNETLINK answers: Cannot assign requested address', 2)
      link.addresses = link.addresses.filter((a) => a !== address)
      return ok(argv)
    }
    throw new CommandError(`Command "${verb}" is unknown, try "ip addr help".`, 255)
  }

  // ------------------------------------------------------------------ OVS

  private ovsdbTool(argv: string[], args: string[]): RunResult {
    if (args[0] !== 'create' || !args[1]) throw new CommandError('ovsdb-tool: FakeHost models only "create DB SCHEMA"')
    if (this.readHostFile(args[1]) !== undefined) throw new CommandError(`ovsdb-tool: I/O error: ${args[1]}: create failed (File exists)`)
    this.writeHostFile(args[1], 'OVSDB JSON (fake)\n')
    this.ovsDbs.set(args[1], emptyDb())
    return ok(argv)
  }

  private pidfileFor(args: string[], daemon: string, options: RunOptions): string | undefined {
    const explicit = args.find((a) => a.startsWith('--pidfile='))
    if (explicit) return explicit.slice('--pidfile='.length)
    if (!args.includes('--pidfile')) return undefined
    const runDir = options.env?.OVS_RUNDIR ?? '/var/run/openvswitch'
    return `${runDir}/${daemon}.pid`
  }

  private ovsdbServer(argv: string[], args: string[], options: RunOptions): RunResult {
    const dbFile = args.find((a) => !a.startsWith('-')) ?? '/etc/openvswitch/conf.db'
    if (!this.ovsDbs.has(dbFile) || !this.dbFileExists(dbFile)) throw new CommandError(`ovsdb-server: ${dbFile}: I/O error: open failed (No such file or directory)`)
    const remotes = args.filter((a) => a.startsWith('--remote=punix:')).map((a) => a.slice('--remote=punix:'.length))
    for (const socket of remotes) {
      if (this.ovsSockets.has(socket)) throw new CommandError(`ovsdb-server: ${socket}: bind failed (Address in use)`)
    }
    const pidfile = this.pidfileFor(args, 'ovsdb-server', options)
    this.spawn(argv, {pidfile, sockets: remotes, onExit: () => {
      for (const socket of remotes) this.ovsSockets.delete(socket)
    }})
    for (const socket of remotes) this.ovsSockets.set(socket, dbFile)
    return ok(argv)
  }

  private ovsVswitchd(argv: string[], args: string[], options: RunOptions): RunResult {
    const remote = args.find((a) => a.startsWith('unix:'))?.slice('unix:'.length)
    if (remote !== undefined && !this.ovsSockets.has(remote)) throw new CommandError(`ovs-vswitchd: ${remote}: database connection failed (No such file or directory)`)
    const pidfile = this.pidfileFor(args, 'ovs-vswitchd', options)
    const dbFile = remote === undefined ? 'system' : this.ovsSockets.get(remote)
    const db = dbFile === undefined ? undefined : this.ovsDbs.get(dbFile)
    if (db) {
      // ovs-vswitchd reports DPDK initialisation in the database when dpdk-init=true.
      const other = db.openvswitch.columns.other_config
      const dpdk = typeof other === 'object' && other['dpdk-init'] === 'true'
      db.openvswitch.columns.dpdk_initialized = dpdk && path.posix.basename(argv[0] ?? '').endsWith('-dpdk') ? 'true' : 'false'
      // DPDK's EAL (as root) keeps its runtime files in /var/run/dpdk/<file-prefix>, left behind at exit.
      const prefix = typeof other === 'object' ? /--file-prefix=(\S+)/.exec(other['dpdk-extra'] ?? '')?.[1] : undefined
      if (db.openvswitch.columns.dpdk_initialized === 'true' && prefix !== undefined) this.writeHostFile(`/var/run/dpdk/${prefix}/config`, '')
    }
    this.spawn(argv, {pidfile})
    return ok(argv)
  }

  private ovsVsctl(argv: string[], args: string[], _options: RunOptions): RunResult {
    // Split into command segments at '--'; leading '--opt' tokens are options.
    const segments: string[][] = [[]]
    for (const a of args) {
      if (a === '--') segments.push([])
      else (segments.at(-1) as string[]).push(a)
    }
    const global: Record<string, string | true> = {}
    const commands: {opts: Set<string>; words: string[]}[] = []
    for (const seg of segments) {
      const opts = new Set<string>()
      let i = 0
      while (i < seg.length && (seg[i] as string).startsWith('-')) {
        const o = seg[i] as string
        const eq = o.indexOf('=')
        const key = eq >= 0 ? o.slice(0, eq) : o
        if (key === '-t') {
          global['--timeout'] = seg[i + 1] ?? ''
          i += 2
          continue
        }
        if (['--db', '--timeout', '--format', '--columns', '--no-wait', '--no-headings', '--oneline', '--bare', '-d', '--data'].includes(key)) {
          global[key] = eq >= 0 ? o.slice(eq + 1) : true
        } else opts.add(key)
        i++
      }
      if (i < seg.length) commands.push({opts, words: seg.slice(i)})
    }
    const dbArg = global['--db']
    const socket = typeof dbArg === 'string' ? dbArg.replace(/^unix:/, '') : 'system'
    const dbFile = this.ovsSockets.get(socket)
    const db = dbFile === undefined ? undefined : this.ovsDbs.get(dbFile)
    if (db === undefined) {
      throw new CommandError(`ovs-vsctl: unix:${socket === 'system' ? '/var/run/openvswitch/db.sock' : socket}: database connection failed (No such file or directory)`)
    }
    const work = cloneDb(db)
    const out: string[] = []
    for (const command of commands) {
      const r = this.ovsCommand(work, command.words, command.opts, global)
      if (r.exitCode !== 0) return r.exitCode === 2 ? {argv, exitCode: 2, stdout: '', stderr: ''} : fail(argv, `ovs-vsctl: ${r.error}`)
      if (r.output !== undefined) out.push(r.output)
    }
    if (dbFile !== undefined) {
      this.ovsDbs.set(dbFile, work)
      // Modelled for private instances only: the system OVS's taps are the host's own business.
      if (dbFile !== 'system') this.syncNetdevTaps(db, work)
    }
    return ok(argv, out.join(''))
  }

  /**
   * OVS's userspace (netdev) datapath gives each netdev bridge a tap of its name in the host
   * namespace, and itself one named ovs-netdev; del-br removes the bridge's tap, ovs-netdev stays
   * after ovs-vswitchd exits (as measured on this project's machines).
   */
  private syncNetdevTaps(before: OvsDb, after: OvsDb): void {
    const netdev = (d: OvsDb) => [...d.bridges].filter(([, b]) => b.columns.datapath_type === 'netdev').map(([name]) => name)
    const now = netdev(after)
    for (const name of netdev(before)) {
      const link = this.findLink(name, '')
      if (!now.includes(name) && link?.kind === 'tap') this.removeLink(link)
    }
    for (const name of now) {
      if (this.findLink(OVS_NETDEV, '') === undefined) this.addLink({name: OVS_NETDEV, ns: '', kind: 'tap', peer: undefined})
      if (this.findLink(name, '') === undefined) this.addLink({name, ns: '', kind: 'tap', peer: undefined})
    }
  }

  private ovsCommand(db: OvsDb, words: string[], opts: Set<string>, global: Record<string, string | true>): {exitCode: number; output?: string; error?: string} {
    const [cmd, ...a] = words
    const err = (error: string) => ({exitCode: 1, error})
    const mayExist = opts.has('--may-exist')
    const ifExists = opts.has('--if-exists')
    switch (cmd) {
      case 'init':
        return {exitCode: 0}
      case 'add-br': {
        const name = a[0] ?? ''
        if (db.bridges.has(name)) return mayExist ? {exitCode: 0} : err(`cannot create a bridge named ${name} because a bridge named ${name} already exists`)
        if (db.ports.has(name)) return err(`cannot create a bridge named ${name} because a port named ${name} already exists on bridge ${this.portBridge(db, name)}`)
        db.bridges.set(name, {columns: {name, external_ids: {}}, ports: [name]})
        db.ports.set(name, {columns: {name, external_ids: {}}})
        db.interfaces.set(name, {columns: {name, type: 'internal', external_ids: {}, options: {}}})
        return {exitCode: 0}
      }
      case 'del-br': {
        const name = a[0] ?? ''
        const br = db.bridges.get(name)
        if (!br) return ifExists ? {exitCode: 0} : err(`no bridge named ${name}`)
        for (const port of br.ports) {
          db.ports.delete(port)
          db.interfaces.delete(port)
        }
        db.bridges.delete(name)
        return {exitCode: 0}
      }
      case 'add-port': {
        const [brName = '', port = ''] = a
        const br = db.bridges.get(brName)
        if (!br) return err(`no bridge named ${brName}`)
        if (db.ports.has(port)) {
          if (mayExist && br.ports.includes(port)) return {exitCode: 0}
          return err(`cannot create a port named ${port} because a port named ${port} already exists on bridge ${this.portBridge(db, port)}`)
        }
        br.ports.push(port)
        db.ports.set(port, {columns: {name: port, external_ids: {}}})
        db.interfaces.set(port, {columns: {name: port, type: '', external_ids: {}, options: {}}})
        return {exitCode: 0}
      }
      case 'del-port': {
        const port = (a.length > 1 ? a[1] : a[0]) ?? ''
        const brName = a.length > 1 ? a[0] : this.portBridge(db, port)
        if (!db.ports.has(port)) return ifExists ? {exitCode: 0} : err(`no port named ${port}`)
        const br = brName === undefined ? undefined : db.bridges.get(brName)
        if (!br || !br.ports.includes(port)) return err(`bridge ${brName} does not have a port ${port}`)
        br.ports = br.ports.filter((p) => p !== port)
        db.ports.delete(port)
        db.interfaces.delete(port)
        return {exitCode: 0}
      }
      case 'br-exists':
        return db.bridges.has(a[0] ?? '') ? {exitCode: 0} : {exitCode: 2}
      case 'list-br':
        return {exitCode: 0, output: [...db.bridges.keys()].sort().map((b) => `${b}\n`).join('')}
      case 'list-ports': {
        const br = db.bridges.get(a[0] ?? '')
        if (!br) return err(`no bridge named ${a[0]}`)
        return {exitCode: 0, output: br.ports.filter((p) => p !== a[0]).sort().map((p) => `${p}\n`).join('')}
      }
      case 'port-to-br': {
        const br = this.portBridge(db, a[0] ?? '')
        return br === undefined ? err(`no port named ${a[0]}`) : {exitCode: 0, output: `${br}\n`}
      }
      case 'set':
      case 'remove':
      case 'clear':
      case 'get': {
        const [table = '', recordName = '', ...cols] = a
        const record = this.ovsRecord(db, table, recordName)
        if (!record) return ifExists ? {exitCode: 0} : err(`no row "${recordName}" in table ${table}`)
        if (cmd === 'set') {
          for (const c of cols) {
            const m = /^([a-z_-]+)(?::([^=]+))?=(.*)$/.exec(c)
            if (!m) return err(`${c}: argument does not end in "=" followed by a value.`)
            const [, rawCol = '', key, raw = ''] = m
            const col = rawCol.replaceAll('-', '_')
            const value = unquote(raw)
            if (key !== undefined) {
              const map = record.columns[col]
              record.columns[col] = {...(typeof map === 'object' ? map : {}), [key]: value}
            } else if (raw.startsWith('{')) {
              record.columns[col] = parseMap(raw)
            } else record.columns[col] = value
          }
          return {exitCode: 0}
        }
        if (cmd === 'remove') {
          const col = (cols[0] ?? '').replaceAll('-', '_')
          const keys = cols.slice(1)
          const map = record.columns[col]
          if (typeof map !== 'object') return err(`cannot remove from non-map column ${col} (FakeHost)`)
          const copy = {...map}
          for (const k of keys) {
            const [key = '', value] = k.split('=')
            if (value === undefined || copy[key] === unquote(value)) delete copy[key]
          }
          record.columns[col] = copy
          return {exitCode: 0}
        }
        if (cmd === 'clear') {
          for (const c of cols) record.columns[c] = typeof record.columns[c] === 'object' ? {} : ''
          return {exitCode: 0}
        }
        const lines: string[] = []
        for (const c of cols) {
          const [rawCol = '', key] = c.split(':')
          const col = rawCol.replaceAll('-', '_')
          const value = record.columns[col]
          if (key !== undefined) {
            const v = typeof value === 'object' ? value[key] : undefined
            if (v === undefined) {
              if (ifExists) continue
              return err(`no key "${key}" in ${table} record "${recordName}" column ${col}`)
            }
            lines.push(quote(v))
          } else if (value === undefined) {
            return err(`${table} does not contain a column whose name matches "${col}"`)
          } else lines.push(typeof value === 'object' ? formatMap(value) : quote(value))
        }
        return {exitCode: 0, output: lines.map((l) => `${l}\n`).join('')}
      }
      case 'find': {
        const [table = '', ...conds] = a
        const rows = this.ovsTable(db, table)
        if (!rows) return err(`unknown table "${table}"`)
        const matched = [...rows.values()].filter((r) => conds.every((cond) => {
          const m = /^([a-z_-]+)(?::([^=]+))?=(.*)$/.exec(cond)
          if (!m) return false
          const [, rawCol = '', key, raw = ''] = m
          const value = r.columns[rawCol.replaceAll('-', '_')]
          if (key !== undefined) return typeof value === 'object' && value[key] === unquote(raw)
          return value === unquote(raw)
        })).sort((x, y) => String(x.columns.name).localeCompare(String(y.columns.name)))
        const columns = typeof global['--columns'] === 'string' ? global['--columns'].split(',') : ['name', 'external_ids']
        if (global['--format'] === 'csv') {
          const header = global['--no-headings'] ? '' : columns.join(',') + '\n'
          return {exitCode: 0, output: header + matched.map((r) => columns.map((c) => csvCell(r.columns[c])).join(',') + '\n').join('')}
        }
        return {exitCode: 0, output: matched.map((r) => columns.map((c) => `${c.padEnd(20)}: ${formatCell(r.columns[c])}\n`).join('')).join('\n')}
      }
      default:
        return err(`unknown command '${cmd}'; use --help for help (FakeHost)`)
    }
  }

  private portBridge(db: OvsDb, port: string): string | undefined {
    for (const [name, br] of db.bridges) if (br.ports.includes(port)) return name
    return undefined
  }

  private ovsTable(db: OvsDb, table: string): Map<string, OvsRecord> | undefined {
    switch (table) {
      case 'Bridge':
      case 'bridge': return db.bridges
      case 'Port':
      case 'port': return db.ports
      case 'Interface':
      case 'interface': return db.interfaces
      case 'Open_vSwitch':
      case 'open_vswitch': return new Map([['.', db.openvswitch]])
      default: return undefined
    }
  }

  private ovsRecord(db: OvsDb, table: string, name: string): OvsRecord | undefined {
    return this.ovsTable(db, table)?.get(table.toLowerCase() === 'open_vswitch' ? '.' : name)
  }

  // ------------------------------------------------------------------ libvirt

  private virsh(argv: string[], args: string[]): RunResult {
    const rest = [...args]
    while (rest[0]?.startsWith('-')) {
      const o = rest.shift()
      if (o === '-c' || o === '--connect') rest.shift()
    }
    if (!this.libvirtRunning) throw new CommandError("error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory")
    const [cmd, ...p] = rest
    const positional = p.filter((x) => !x.startsWith('--'))
    const name = positional[0] ?? ''
    const need = (): Domain => {
      const d = this.domains.get(name)
      if (!d) throw new CommandError(`error: failed to get domain '${name}'`)
      return d
    }
    switch (cmd) {
      case 'define': {
        const xml = this.readHostFile(name)
        if (xml === undefined) throw new CommandError(`error: Failed to open file '${name}': No such file or directory`)
        const m = /<name>([^<]+)<\/name>/.exec(xml)
        if (!m?.[1]) throw new CommandError('error: XML error: missing domain name information')
        const existing = this.domains.get(m[1])
        this.domains.set(m[1], {name: m[1], xml, persistent: true, pid: existing?.pid})
        return ok(argv, `Domain '${m[1]}' defined from ${name}\n\n`)
      }
      case 'start': {
        const d = need()
        if (d.pid !== undefined) throw new CommandError('error: Failed to start domain \'' + name + '\'\nerror: Requested operation is not valid: domain is already running')
        const proc = this.spawn(['/usr/bin/qemu-system-x86_64', '-name', `guest=${d.name},debug-threads=on`, '-accel', 'tcg', '-m', '512'], {pidfile: `/run/libvirt/qemu/${d.name}.pid`})
        d.pid = proc.pid
        // The built-in guest boots at once here: its /init prints the ready marker on the serial console.
        const log = /<serial type=['"]file['"]>\s*<source path=['"]([^'"]+)['"]/.exec(d.xml)?.[1]
        const vm = /virtlab\.vm=([^\s<]+)/.exec(d.xml)?.[1]
        if (log !== undefined && vm !== undefined) this.writeHostFile(log, `virtlab-init: ready\r\nVIRTLAB-READY ${vm}\r\n`)
        return ok(argv, `Domain '${name}' started\n\n`)
      }
      case 'destroy': {
        const d = need()
        if (d.pid === undefined) throw new CommandError(`error: Failed to destroy domain '${name}'\nerror: Requested operation is not valid: domain is not running`)
        this.kill(d.pid)
        d.pid = undefined
        if (!d.persistent) this.domains.delete(name)
        return ok(argv, `Domain '${name}' destroyed\n\n`)
      }
      case 'undefine': {
        const d = need()
        if (d.pid === undefined) this.domains.delete(name)
        else d.persistent = false
        return ok(argv, `Domain '${name}' has been undefined\n\n`)
      }
      case 'domuuid': {
        const d = need()
        const uuid = /<uuid>([^<]+)<\/uuid>/.exec(d.xml)?.[1] ?? '00000000-0000-0000-0000-000000000000'
        return ok(argv, `${uuid}\n\n`)
      }
      case 'domstate': {
        const d = need()
        return ok(argv, `${d.pid === undefined ? 'shut off' : 'running'}\n\n`)
      }
      case 'list': {
        const all = p.includes('--all')
        const names = [...this.domains.values()].filter((d) => all || d.pid !== undefined).map((d) => d.name).sort()
        if (!p.includes('--name')) throw new CommandError('FakeHost models only `virsh list [--all] --name`')
        return ok(argv, names.map((n) => `${n}\n`).join('') + '\n')
      }
      case 'dumpxml':
        return ok(argv, need().xml)
      case 'qemu-agent-command': {
        const d = need()
        if (d.pid === undefined) throw new CommandError(`error: Requested operation is not valid: domain is not running`)
        if (!/virtlab\.vm=/.test(d.xml)) throw new CommandError('error: Guest agent is not responding: QEMU guest agent is not connected')
        return ok(argv, '{"return":{}}\n')
      }
      default:
        throw new CommandError(`error: unknown command: '${cmd}'`)
    }
  }

  // ------------------------------------------------------------------ modules, mounts, processes

  private modprobe(argv: string[], args: string[]): RunResult {
    const remove = args.includes('-r') || args.includes('--remove')
    const mods = args.filter((a) => !a.startsWith('-'))
    for (const m of mods) {
      if (remove) {
        if (!this.modules.has(m)) throw new CommandError(`modprobe: FATAL: Module ${m} is not in kernel.`)
      } else if (this.missingModules.has(m)) {
        throw new CommandError(`modprobe: FATAL: Module ${m} not found in directory /lib/modules/6.1.0-fake`)
      }
    }
    for (const m of mods) {
      // Like the kernel: a loaded module appears as /sys/module/<name>.
      if (remove) {
        this.modules.delete(m)
        nodefs.rmSync(this.fs.resolve(`/sys/module/${m}`), {recursive: true, force: true})
      } else {
        this.modules.add(m)
        nodefs.mkdirSync(this.fs.resolve(`/sys/module/${m}`), {recursive: true})
      }
    }
    return ok(argv)
  }

  private writeMounts(): void {
    this.writeHostFile('/proc/mounts', this.mounts.map((m) => `${m.source} ${m.target} ${m.type} ${m.options || 'rw'} 0 0\n`).join(''))
  }

  private mount(argv: string[], args: string[]): RunResult {
    const p = [...args]
    let type = 'none'
    let opts = ''
    const positional: string[] = []
    while (p.length > 0) {
      const w = p.shift() as string
      if (w === '-t') type = p.shift() ?? ''
      else if (w === '-o') opts = p.shift() ?? ''
      else positional.push(w)
    }
    const [source = '', target = ''] = positional
    const st = nodefs.existsSync(this.fs.resolve(target)) ? nodefs.statSync(this.fs.resolve(target)) : undefined
    if (!st?.isDirectory()) throw new CommandError(`mount: ${target}: mount point does not exist.`, 32)
    if (this.mounts.some((m) => m.target === target && m.type === type && m.options === opts)) throw new CommandError(`mount: ${target}: ${source} already mounted on ${target}.`, 32)
    this.mounts.push({source, target, type, options: opts})
    this.writeMounts()
    return ok(argv)
  }

  private findmnt(argv: string[], args: string[]): RunResult {
    const opt = (names: string[]) => {
      const at = args.findIndex((a) => names.includes(a))
      return at >= 0 ? args[at + 1] : undefined
    }
    const type = opt(['-t', '--types'])
    const target = opt(['-M', '--mountpoint']) ?? args.find((a) => !a.startsWith('-'))
    const found = this.mounts.filter((m) => (type === undefined || m.type === type) && (target === undefined || m.target === target))
    if (found.length === 0) return fail(argv, '', 1)
    return ok(argv, 'TARGET SOURCE FSTYPE OPTIONS\n' + found.map((m) => `${m.target} ${m.source} ${m.type} ${m.options || 'rw'}\n`).join(''))
  }

  private umount(argv: string[], args: string[]): RunResult {
    const target = args.find((a) => !a.startsWith('-')) ?? ''
    const i = this.mounts.map((m) => m.target).lastIndexOf(target)
    if (i < 0) throw new CommandError(`umount: ${target}: not mounted.`, 32)
    this.mounts.splice(i, 1)
    this.writeMounts()
    return ok(argv)
  }

  private mountpoint(argv: string[], args: string[]): RunResult {
    const target = args.find((a) => !a.startsWith('-')) ?? ''
    return this.mounts.some((m) => m.target === target) ? ok(argv) : fail(argv, args.includes('-q') ? '' : `${target} is not a mountpoint`, 32)
  }

  private pkill(argv: string[], args: string[], kill: boolean): RunResult {
    const fAt = args.indexOf('-F')
    const file = fAt >= 0 ? args[fAt + 1] : args.find((a) => a.startsWith('--pidfile='))?.slice('--pidfile='.length)
    if (file === undefined) throw new CommandError('FakeHost models only pkill/pgrep -F PIDFILE', 2)
    const text = this.readHostFile(file)?.trim()
    if (text === undefined || !/^\d+$/.test(text)) throw new CommandError(`${kill ? 'pkill' : 'pgrep'}: pidfile not valid`, 1)
    const pid = Number(text)
    if (!this.processes.has(pid)) return fail(argv, '', 1)
    if (kill) this.kill(pid)
    return ok(argv, kill ? '' : `${pid}\n`)
  }

  private killCmd(argv: string[], args: string[]): RunResult {
    const pids = args.filter((a) => /^\d+$/.test(a)).map(Number)
    let missing = false
    for (const pid of pids) {
      if (!this.kill(pid)) missing = true
    }
    return missing ? fail(argv, `kill: (${pids.join(' ')}) - No such process`) : ok(argv)
  }

  private qemu(argv: string[]): RunResult {
    const pidAt = argv.indexOf('-pidfile')
    const pidfile = pidAt >= 0 ? argv[pidAt + 1] : undefined
    if (pidfile && this.readHostFile(pidfile) !== undefined) {
      const text = this.readHostFile(pidfile)?.trim() ?? ''
      if (this.processes.has(Number(text))) throw new CommandError(`qemu-system-x86_64: cannot create PID file: Cannot lock pid file: Resource temporarily unavailable`)
    }
    this.spawn(argv, {pidfile})
    // The built-in guest boots at once here: its /init prints the ready marker on the serial console.
    const serial = argv[argv.indexOf('-serial') + 1]
    const vm = /virtlab\.vm=(\S+)/.exec(argv[argv.indexOf('-append') + 1] ?? '')?.[1]
    if (argv.includes('-serial') && serial?.startsWith('file:') && vm !== undefined) this.writeHostFile(serial.slice('file:'.length), `VIRTLAB-READY ${vm}\n`)
    return ok(argv)
  }

  /** grep [-q] [-E] [--] PATTERN FILE: extended regular expressions, line by line. */
  private grep(argv: string[], args: string[]): RunResult {
    const rest = [...args]
    let quiet = false
    while (rest[0]?.startsWith('-')) {
      const o = rest.shift() as string
      if (o === '--') break
      if (o === '-q') quiet = true
      else if (o !== '-E') throw new CommandError(`grep: FakeHost does not model ${o}`, 2)
    }
    const [pattern, file] = rest
    if (pattern === undefined || file === undefined) throw new CommandError('FakeHost models only grep PATTERN FILE', 2)
    const text = this.readHostFile(file)
    if (text === undefined) throw new CommandError(`grep: ${file}: No such file or directory`, 2)
    const re = new RegExp(pattern.replaceAll('[[:space:]]', '\\s'))
    const hits = text.split('\n').filter((l) => re.test(l))
    return hits.length === 0 ? fail(argv, '', 1) : ok(argv, quiet ? '' : hits.map((h) => `${h}\n`).join(''))
  }

  /** rmdir [--ignore-fail-on-non-empty] DIR. */
  private rmdir(argv: string[], args: string[]): RunResult {
    const ignore = args.includes('--ignore-fail-on-non-empty')
    const dir = args.filter((a) => !a.startsWith('-')).at(-1) ?? ''
    const real = this.fs.resolve(dir)
    if (!nodefs.existsSync(real)) throw new CommandError(`rmdir: failed to remove '${dir}': No such file or directory`)
    if (nodefs.readdirSync(real).length > 0) {
      if (ignore) return ok(argv)
      throw new CommandError(`rmdir: failed to remove '${dir}': Directory not empty`)
    }
    nodefs.rmdirSync(real)
    return ok(argv)
  }
}

const OVS_NETDEV = 'ovs-netdev'

function emptyDb(): OvsDb {
  return {bridges: new Map(), ports: new Map(), interfaces: new Map(), openvswitch: {columns: {other_config: {}, external_ids: {}}}}
}

function cloneDb(db: OvsDb): OvsDb {
  return structuredClone(db)
}

function unquote(s: string): string {
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s
}

function quote(s: string): string {
  return /^[A-Za-z0-9_.:/-]*$/.test(s) && s !== '' ? s : JSON.stringify(s)
}

function parseMap(raw: string): Record<string, string> {
  const inner = raw.replace(/^\{|\}$/g, '').trim()
  if (inner === '') return {}
  return Object.fromEntries(inner.split(',').map((kv) => {
    const [k = '', v = ''] = kv.split('=')
    return [unquote(k.trim()), unquote(v.trim())]
  }))
}

function formatMap(map: Record<string, string>): string {
  return `{${Object.keys(map).sort().map((k) => `${quote(k)}=${quote(map[k] as string)}`).join(', ')}}`
}

function formatCell(value: string | Record<string, string> | undefined): string {
  if (value === undefined) return '[]'
  return typeof value === 'object' ? formatMap(value) : quote(value)
}

function csvCell(value: string | Record<string, string> | undefined): string {
  const text = typeof value === 'object' ? formatMap(value) : (value ?? '')
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

/**
 * A nested host's life: create (build if needed, keys, boot), start, stop, remove, list. The L1
 * VM is a QEMU process on this machine (-daemonize, pidfile and QMP socket in <runBase>/hosts/
 * <name>/, console in console.log there). Its persistent files (host.json, keys, known_hosts,
 * ssh_config) live in <stateDir>/nested/hosts/<name>/. Nothing else on this machine changes:
 * no links, no netns, no files outside those two directories and the build cache.
 */
import {VirtlabError} from '../errors.js'
import {type BuildManifest, type BuildResult, ensureBuild, readBuild} from './build.js'
import {type NestedEnv, phase} from './env.js'
import {componentDir, type HostPaths, hostPaths, nestedDir, sshAlias, validateHostName} from './layout.js'
import {machineArgv, type MachineSpec} from './machine.js'
import {candidatePorts} from './ports.js'
import {prepareKeys, sshRun, writeSshFiles} from './ssh.js'

export interface NestedHostConfig {
  name: string
  kind: 'nested'
  memoryMiB: number
  cpus: number
  sshPort: number
  buildKey: string
  createdAt: string
}

export type NestedState = 'running' | 'stopped'

export interface NestedHostStatus {
  name: string
  state: NestedState
  pid: number | undefined
  sshPort: number
  memoryMiB: number
  cpus: number
  buildKey: string
  /** `ssh -F <sshConfig> <sshAlias>` reaches L1. */
  sshConfig: string
  sshAlias: string
  url: string
  console: string
}

export interface BootTimes {
  qemuMs: number
  bootMs: number
  sshMs: number
  totalMs: number
}

export interface CreateOptions {
  memoryMiB?: number
  cpus?: number
  refresh?: boolean
  bootTimeoutMs?: number
}

export const DEFAULT_MEMORY_MIB = 6144
export const DEFAULT_CPUS = 2
const DEFAULT_BOOT_TIMEOUT_MS = 300_000

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export function hostUrl(config: Pick<NestedHostConfig, 'sshPort'>): string {
  return `ssh://root@127.0.0.1:${config.sshPort}`
}

export async function readHostConfig(env: NestedEnv, name: string): Promise<NestedHostConfig | undefined> {
  const text = await env.fs.tryReadFile(hostPaths(env.stateDir, env.runBase, name).config)
  if (text === undefined) return undefined
  return JSON.parse(text) as NestedHostConfig
}

async function mustConfig(env: NestedEnv, name: string): Promise<NestedHostConfig> {
  const config = await readHostConfig(env, validateHostName(name))
  if (config === undefined) {
    throw new VirtlabError('NESTED_HOST_UNKNOWN', `No nested host named ${name}`, {hint: `Create it: virtlab host create ${name} --nested`})
  }
  return config
}

async function saveConfig(env: NestedEnv, config: NestedHostConfig): Promise<void> {
  await env.fs.writeFile(hostPaths(env.stateDir, env.runBase, config.name).config, JSON.stringify(config, null, 2) + '\n', {atomic: true, mode: 0o644})
}

/** The last lines of L1's console, control characters removed. */
export async function consoleTail(env: NestedEnv, paths: HostPaths, lines = 25): Promise<string> {
  const text = await env.fs.tryReadFile(paths.console)
  if (text === undefined) return '(no console output)'
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/\r/g, '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
  return clean.trimEnd().split('\n').slice(-lines).join('\n') || '(no console output)'
}

/** The QEMU pid of a running host: from its pidfile, alive, and named virtlab-<name>. */
export async function runningPid(env: NestedEnv, name: string): Promise<number | undefined> {
  const paths = hostPaths(env.stateDir, env.runBase, name)
  const pid = Number((await env.fs.tryReadFile(paths.pidfile))?.trim())
  if (!Number.isInteger(pid) || pid <= 1) return undefined
  const comm = (await env.fs.tryReadFile(`/proc/${pid}/comm`))?.trim()
  if (comm !== `virtlab-${name}`.slice(0, 15)) return undefined
  const stat = await env.fs.tryReadFile(`/proc/${pid}/stat`)
  const state = stat === undefined ? undefined : /\)\s+(\S)/.exec(stat)?.[1]
  if (state === undefined || state === 'Z' || state === 'X') return undefined
  return pid
}

function status(env: NestedEnv, config: NestedHostConfig, pid: number | undefined): NestedHostStatus {
  const paths = hostPaths(env.stateDir, env.runBase, config.name)
  return {
    name: config.name, state: pid === undefined ? 'stopped' : 'running', pid,
    sshPort: config.sshPort, memoryMiB: config.memoryMiB, cpus: config.cpus, buildKey: config.buildKey,
    sshConfig: env.fs.resolve(paths.sshConfig), sshAlias: sshAlias(config.name), url: hostUrl(config), console: env.fs.resolve(paths.console),
  }
}

export async function listNestedHosts(env: NestedEnv): Promise<NestedHostStatus[]> {
  const out: NestedHostStatus[] = []
  for (const name of await env.fs.readdir(`${nestedDir(env.stateDir)}/hosts`)) {
    const config = await readHostConfig(env, name).catch(() => undefined)
    if (config === undefined) continue
    out.push(status(env, config, await runningPid(env, name)))
  }
  return out
}

export async function nestedHostStatus(env: NestedEnv, name: string): Promise<NestedHostStatus> {
  const config = await mustConfig(env, name)
  return status(env, config, await runningPid(env, name))
}

export interface CreateResult {
  status: NestedHostStatus
  build: BuildResult
  boot: BootTimes
}

export async function createNestedHost(env: NestedEnv, name: string, options: CreateOptions = {}): Promise<CreateResult> {
  validateHostName(name)
  if ((await readHostConfig(env, name)) !== undefined) {
    throw new VirtlabError('NESTED_HOST_EXISTS', `A nested host named ${name} exists already`, {
      hint: `Start it (virtlab host start ${name}) or remove it first (virtlab host rm ${name}).`,
    })
  }
  const memoryMiB = options.memoryMiB ?? DEFAULT_MEMORY_MIB
  const cpus = options.cpus ?? DEFAULT_CPUS
  if (!Number.isInteger(memoryMiB) || memoryMiB < 1024 || memoryMiB > 262144) {
    throw new VirtlabError('NESTED_BAD_MEMORY', `L1 memory must be between 1024 and 262144 MiB (got ${memoryMiB})`)
  }
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64) throw new VirtlabError('NESTED_BAD_CPUS', `L1 vCPUs must be between 1 and 64 (got ${cpus})`)
  const build = await ensureBuild(env, options.refresh ? {refresh: true} : {})
  const paths = hostPaths(env.stateDir, env.runBase, name)
  const done = phase(env, 'nested:host', `Host ${name}: keys and ssh configuration`)
  await env.fs.mkdir(paths.dir, {mode: 0o700})
  await prepareKeys(env, name, paths)
  const [port] = await candidatePorts(env.fs, name, 1, await usedPorts(env))
  if (port === undefined) throw new VirtlabError('NESTED_NO_PORT', 'No free 127.0.0.1 port for the SSH forward')
  const config: NestedHostConfig = {name, kind: 'nested', memoryMiB, cpus, sshPort: port, buildKey: build.manifest.key, createdAt: new Date().toISOString()}
  await writeSshFiles(env, name, port, paths)
  await saveConfig(env, config)
  done(paths.dir)
  const started = await startNestedHost(env, name, options.bootTimeoutMs === undefined ? {} : {bootTimeoutMs: options.bootTimeoutMs})
  return {status: started.status, build, boot: started.boot}
}

/** Ports other nested hosts were given (so two hosts never share one). */
async function usedPorts(env: NestedEnv): Promise<number[]> {
  return (await listNestedHosts(env)).map((h) => h.sshPort)
}

export interface StartResult {
  status: NestedHostStatus
  boot: BootTimes
  alreadyRunning: boolean
}

export async function startNestedHost(env: NestedEnv, name: string, options: {bootTimeoutMs?: number} = {}): Promise<StartResult> {
  const config = await mustConfig(env, name)
  const paths = hostPaths(env.stateDir, env.runBase, name)
  const existing = await runningPid(env, name)
  if (existing !== undefined) {
    return {status: status(env, config, existing), boot: {qemuMs: 0, bootMs: 0, sshMs: 0, totalMs: 0}, alreadyRunning: true}
  }
  let build: BuildManifest | undefined = await readBuild(env, config.buildKey)
  if (build === undefined) {
    build = (await ensureBuild(env)).manifest
    config.buildKey = build.key
  }
  const t0 = performance.now()
  await env.fs.remove(paths.runDir, {recursive: true})
  await env.fs.mkdir(paths.runDir, {mode: 0o700})
  const qemuDone = phase(env, 'nested:qemu', `Host ${name}: starting L1 (QEMU ${build.qemu.version}, TCG, ${config.cpus} vCPU, ${config.memoryMiB} MiB)`)
  const ports = [config.sshPort, ...(await candidatePorts(env.fs, name, 4, await usedPorts(env)))]
  let pid: number | undefined
  let lastError = ''
  for (const port of [...new Set(ports)]) {
    const spec: MachineSpec = {name, memoryMiB: config.memoryMiB, cpus: config.cpus, sshPort: port}
    const moduleDir = (await env.fs.exists(build.qemu.moduleDir)) ? {QEMU_MODULE_DIR: env.fs.resolve(build.qemu.moduleDir)} : undefined
    const r = await env.runner.run(machineArgv(spec, build, paths, (p) => env.fs.resolve(p)), {
      allowFailure: true, timeoutMs: 120_000, ...(moduleDir === undefined ? {} : {env: moduleDir}),
    })
    if (r.exitCode === 0) {
      config.sshPort = port
      await writeSshFiles(env, name, port, paths)
      await saveConfig(env, config)
      pid = await runningPid(env, name)
      break
    }
    lastError = r.stderr.trim()
    if (/host forwarding|Could not set up host forwarding|Address already in use/i.test(lastError)) continue
    await env.fs.remove(paths.runDir, {recursive: true})
    throw new VirtlabError('NESTED_QEMU_FAILED', `QEMU for nested host ${name} did not start`, {
      hint: 'See QEMU\'s message above.',
      command: {argv: r.argv, exitCode: r.exitCode, stderrTail: lastError.split('\n').slice(-8).join('\n')},
    })
  }
  if (pid === undefined) {
    await env.fs.remove(paths.runDir, {recursive: true})
    throw new VirtlabError('NESTED_QEMU_FAILED', `QEMU for nested host ${name} did not start${lastError ? `: ${lastError.split('\n').at(-1)}` : ''}`)
  }
  const qemuMs = qemuDone(`pid ${pid}, ssh on 127.0.0.1:${config.sshPort}`)
  const t1 = performance.now()
  const bootDone = phase(env, 'nested:boot', `Host ${name}: L1 booting (kernel, 9p root, modules)`)
  await waitFor(env, name, paths, options.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS, async () => (await env.fs.tryReadFile(paths.console))?.includes('VIRTLAB-L1-READY') ?? false, 'L1 to finish booting')
  const bootMs = bootDone()
  const t2 = performance.now()
  const sshDone = phase(env, 'nested:ssh', `Host ${name}: sshd in L1`)
  let kernel = ''
  await waitFor(env, name, paths, 60_000, async () => {
    const r = await sshRun(env, name, paths, ['uname', '-r'], 20_000).catch(() => undefined)
    if (r?.exitCode === 0) kernel = r.stdout.trim()
    return r?.exitCode === 0
  }, 'sshd in L1 to answer')
  const sshMs = sshDone(`kernel ${kernel}`)
  void t1
  void t2
  return {status: status(env, config, pid), boot: {qemuMs, bootMs, sshMs, totalMs: Math.round(performance.now() - t0)}, alreadyRunning: false}
}

const FAILURE_MARKERS = [/VIRTLAB-L1-FAIL: .*/, /Kernel panic - not syncing.*/, /Out of memory: .*/, /oom-kill.*/]

/** Poll until ready(); fail with the console's tail when QEMU exits, L1 reports a failure, or time runs out. */
async function waitFor(env: NestedEnv, name: string, paths: HostPaths, timeoutMs: number, ready: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (await ready()) return
    const consoleText = (await env.fs.tryReadFile(paths.console)) ?? ''
    const marker = FAILURE_MARKERS.map((re) => re.exec(consoleText)?.[0]).find((m) => m !== undefined)
    const alive = (await runningPid(env, name)) !== undefined
    if (marker !== undefined || !alive || performance.now() > deadline) {
      const tail = await consoleTail(env, paths)
      const reason = marker !== undefined ? marker.trim() : !alive ? 'its QEMU process exited' : `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`
      await killHost(env, name).catch(() => {})
      throw new VirtlabError('NESTED_BOOT_FAILED', `Nested host ${name} failed to boot: ${reason}`, {
        hint: `The console log is ${env.fs.resolve(paths.console)}; its last lines:\n${tail}\n` +
          `Out of memory? Recreate with more: virtlab host rm ${name} && virtlab host create ${name} --nested --memory 8G. ` +
          `\`virtlab host rm ${name}\` removes what is left.`,
        details: {console: tail},
      })
    }
    await sleep(1000)
  }
}

/** SIGTERM the host's QEMU, wait up to 15 s, then SIGKILL. Returns whether it was running. */
async function killHost(env: NestedEnv, name: string): Promise<boolean> {
  const pid = await runningPid(env, name)
  if (pid === undefined) return false
  await env.runner.run(['kill', '-TERM', String(pid)], {allowFailure: true, timeoutMs: 10_000})
  const deadline = performance.now() + 15_000
  while ((await runningPid(env, name)) !== undefined) {
    if (performance.now() > deadline) {
      await env.runner.run(['kill', '-KILL', String(pid)], {allowFailure: true, timeoutMs: 10_000})
      await sleep(500)
      if ((await runningPid(env, name)) !== undefined) throw new VirtlabError('NESTED_STOP_FAILED', `QEMU of nested host ${name} (pid ${pid}) does not exit`)
      break
    }
    await sleep(200)
  }
  return true
}

export interface StopResult {
  name: string
  wasRunning: boolean
  ms: number
}

/** Stop L1 (its state is a tmpfs overlay: nothing to save) and remove its run directory. */
export async function stopNestedHost(env: NestedEnv, name: string): Promise<StopResult> {
  await mustConfig(env, name)
  const t0 = performance.now()
  const done = phase(env, 'nested:stop', `Host ${name}: stopping L1`)
  const wasRunning = await killHost(env, name)
  await env.fs.remove(hostPaths(env.stateDir, env.runBase, name).runDir, {recursive: true})
  done(wasRunning ? 'stopped' : 'was not running')
  return {name, wasRunning, ms: Math.round(performance.now() - t0)}
}

export interface RemoveResult {
  name: string
  wasRunning: boolean
  /** Cache entries removed with --purge. */
  purged: string[]
}

/** Stop the host, remove its files and run directory; with purge, the build cache it alone used. */
export async function removeNestedHost(env: NestedEnv, name: string, options: {purge?: boolean} = {}): Promise<RemoveResult> {
  const config = await mustConfig(env, name)
  const paths = hostPaths(env.stateDir, env.runBase, name)
  const wasRunning = await killHost(env, name)
  await env.fs.remove(paths.runDir, {recursive: true})
  await env.fs.remove(paths.dir, {recursive: true})
  const purged: string[] = []
  if (options.purge) {
    const others = await listNestedHosts(env)
    const keep = new Set<string>()
    for (const other of others) {
      const m = await readBuild(env, other.buildKey)
      if (m === undefined) continue
      for (const dir of [m.dir, m.kernel.dir, m.qemu.dir, m.root.dir]) keep.add(dir)
    }
    const build = await readBuild(env, config.buildKey)
    const mine = build === undefined ? [componentDir(env.stateDir, 'build', config.buildKey)] : [build.dir, build.kernel.dir, build.qemu.dir, build.root.dir]
    for (const dir of mine) {
      if (keep.has(dir)) continue
      await env.fs.remove(dir, {recursive: true})
      purged.push(dir)
    }
    if (others.length === 0) {
      const base = nestedDir(env.stateDir)
      await env.fs.remove(base, {recursive: true})
      purged.push(base)
    }
  }
  return {name, wasRunning, purged}
}

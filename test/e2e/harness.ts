/**
 * End-to-end harness: real labs on this host, driven through the CLI (`node bin/run.js`, built by
 * `npm test` before vitest). Everything the suite makes lives under one temporary directory
 * (state dir with the guest image, run directories), which is traversable: libvirt's QEMU runs as
 * libvirt-qemu and must reach the run directory and the guest's kernel and initramfs.
 *
 * The host snapshot is what "leave nothing behind" means here: namespaces, links, libvirt
 * domains, hugepages, mounts, QEMU and OVS processes, /dev/kvm's owner and mode, DPDK's runtime
 * directories, and every file under the temporary directory.
 */
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'

import {afterAll, beforeAll} from 'vitest'

import {type Context, createContext} from '../../src/app/context.js'
import {ensureImage} from '../../src/guest/image.js'
import {ensureLibvirtd, type StartedDaemon, stopStartedDaemons} from '../../src/host/daemons.js'
import {gatherFacts} from '../../src/host/probe.js'

export const REPO = join(import.meta.dirname, '..', '..')
export const BIN = join(REPO, 'bin', 'run.js')

export interface E2eEnv {
  base: string
  stateDir: string
  runBase: string
  resultsDir: string
  ctx: Context
  started: StartedDaemon[]
}

function sh(argv: string[]): string {
  try {
    return execFileSync(argv[0] as string, argv.slice(1), {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
  } catch (error) {
    const e = error as {stdout?: string}
    return e.stdout ?? ''
  }
}

/** Start libvirtd (and virtlogd) when absent, build the guest image, probe the host once (KVM probe cache). */
export async function setUp(): Promise<E2eEnv> {
  const base = mkdtempSync(join(tmpdir(), 'virtlab-e2e-'))
  chmodSync(base, 0o755)
  const stateDir = join(base, 'state')
  const runBase = join(base, 'run')
  const resultsDir = mkdtempSync(join(tmpdir(), 'virtlab-e2e-results-'))
  const ctx = createContext({stateDir})
  ctx.target.runBase = runBase
  const started = await ensureLibvirtd(ctx)
  await ensureImage(ctx)
  await gatherFacts(ctx)
  return {base, stateDir, runBase, resultsDir, ctx, started}
}

export async function tearDown(env: E2eEnv | undefined): Promise<void> {
  if (env === undefined) return
  // Whatever a failed test left: the CLI's own sweep, then stop the daemons this suite started.
  for (const lab of ['virtio-qemu', 'vhost-net', 'vhost-user']) {
    if (existsSync(join(env.stateDir, lab)) || existsSync(join(env.runBase, lab))) await cli(env, ['down', lab, '--force'], {timeoutMs: 180_000})
  }
  await stopStartedDaemons(env.ctx, env.started)
  rmSync(env.base, {recursive: true, force: true})
  rmSync(env.resultsDir, {recursive: true, force: true})
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** --json output, parsed (undefined when stdout is not JSON). */
  json: unknown
  ms: number
}

export interface CliOptions {
  timeoutMs?: number
  /** Called with the child and its stderr so far, on every stderr chunk. */
  onStderr?: (child: ChildProcess, stderr: string) => void
}

/** Run `virtlab <args> --json` with the suite's state and run directories. */
export function cli(env: Pick<E2eEnv, 'stateDir' | 'runBase'>, args: string[], options: CliOptions = {}): Promise<CliResult> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args, '--json'], {
      cwd: REPO,
      env: {...process.env, VIRTLAB_STATE_DIR: env.stateDir, VIRTLAB_RUN_DIR: env.runBase, NO_COLOR: '1'},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      options.onStderr?.(child, stderr)
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`virtlab ${args.join(' ')} did not finish within ${options.timeoutMs ?? 600_000} ms\nstderr:\n${stderr.slice(-4000)}`))
    }, options.timeoutMs ?? 600_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let json: unknown
      try {
        json = JSON.parse(stdout)
      } catch {
        json = undefined
      }
      resolve({code, signal, stdout, stderr, json, ms: Date.now() - started})
    })
  })
}

export interface HostSnapshot {
  netns: string[]
  links: string[]
  domains: string[]
  hugepages: {total: string | undefined; free: string | undefined; nr: string}
  mounts: string[]
  processes: string[]
  kvm: string
  dpdkRuntime: string[]
  files: string[]
}

function listTree(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name)
      const st = statSync(p, {throwIfNoEntry: false})
      out.push(`${relative(dir, p)}${st?.isDirectory() ? '/' : ''}`)
      if (st?.isDirectory()) walk(p)
    }
  }
  walk(dir)
  return out
}

/** QEMU and OVS processes on the host: comm and the start of their command line. */
function labProcesses(): string[] {
  const out: string[] = []
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
      if (!/^(qemu|ovs)/.test(comm)) continue
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
      out.push(`${comm}: ${cmdline.slice(0, 200)}`)
    } catch {
      // gone meanwhile
    }
  }
  return out.sort()
}

export function snapshot(env: Pick<E2eEnv, 'base'>): HostSnapshot {
  const meminfo = readFileSync('/proc/meminfo', 'utf8')
  const field = (name: string) => new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(meminfo)?.[1]
  return {
    netns: sh(['ip', 'netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean).sort(),
    links: sh(['ip', '-o', 'link', 'show']).split('\n').map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter((n): n is string => n !== undefined).sort(),
    domains: sh(['virsh', '-c', 'qemu:///system', 'list', '--all', '--name']).split('\n').map((l) => l.trim()).filter(Boolean).sort(),
    hugepages: {total: field('HugePages_Total'), free: field('HugePages_Free'), nr: readFileSync('/proc/sys/vm/nr_hugepages', 'utf8').trim()},
    mounts: readFileSync('/proc/mounts', 'utf8').split('\n').filter(Boolean).sort(),
    processes: labProcesses(),
    kvm: existsSync('/dev/kvm') ? sh(['stat', '-c', '%U:%G %a', '/dev/kvm']).trim() : 'absent',
    dpdkRuntime: existsSync('/var/run/dpdk') ? ['/var/run/dpdk/', ...readdirSync('/var/run/dpdk').sort()] : [],
    files: listTree(env.base),
  }
}

/** Pids of the QEMU processes of a lab (their -name is vl-<lab>-<vm>). */
export function qemuPids(lab: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      const at = argv.indexOf('-name')
      const name = (argv[at + 1] ?? '').replace(/^guest=/, '').split(',')[0] ?? ''
      if (at >= 0 && name.startsWith(`vl-${lab}-`)) out.set(name.slice(`vl-${lab}-`.length), Number(pid))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

export function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}/exe`)
}

/**
 * Registers a suite's hooks: setUp before all its tests, tearDown after (with the suite's wall
 * time when a label is given). Returns the environment getter, which throws before setup.
 */
export function useE2eEnv(label?: string): () => E2eEnv {
  let env: E2eEnv | undefined
  const started = Date.now()
  beforeAll(async () => {
    env = await setUp()
  }, 300_000)
  afterAll(async () => {
    await tearDown(env)
    if (label !== undefined) console.log(`[e2e ${label}] wall time ${((Date.now() - started) / 1000).toFixed(0)} s`)
  }, 300_000)
  return () => {
    if (env === undefined) throw new Error('the e2e environment was not set up')
    return env
  }
}

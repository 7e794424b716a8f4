/**
 * One nested lab host (L1) shared by the real tests that need one: created on first use (the
 * build is cached under a stable state directory, VIRTLAB_NESTED_STATE_DIR, default
 * /var/lib/virtlab-nested, so a run builds it at most once), removed by test/nested/global-setup.ts
 * at the end of the run. Driven through the CLI, like a user would.
 */
import {execFile, execFileSync} from 'node:child_process'
import {rmSync} from 'node:fs'
import {promisify} from 'node:util'
import {join} from 'node:path'

import {createContext} from '../../src/app/context.js'
import {nestedEnv, type NestedEnv} from '../../src/nested/env.js'
import {readHostConfig, runningPid} from '../../src/nested/lifecycle.js'

const run = promisify(execFile)

export const REPO = join(import.meta.dirname, '..', '..')
export const BIN = join(REPO, 'bin', 'run.js')
export const NESTED_STATE_DIR = process.env.VIRTLAB_NESTED_STATE_DIR ?? '/var/lib/virtlab-nested'
export const NESTED_RUN_DIR = process.env.VIRTLAB_NESTED_RUN_DIR ?? '/run/virtlab-nested-test'
export const HOST = 'vt-nested'
/** The operator's hosts file for this run (never the user's own). */
export const HOSTS_FILE = process.env.VIRTLAB_NESTED_HOSTS_FILE ?? '/tmp/virtlab-nested-test-hosts.yaml'

export function env(): NestedEnv {
  const ctx = createContext({stateDir: NESTED_STATE_DIR})
  ctx.target.runBase = NESTED_RUN_DIR
  return nestedEnv(ctx)
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  json: unknown
}

/** `virtlab <args> --state-dir <nested state>`, with the nested run directory. */
export async function cli(args: string[], options: {timeoutMs?: number; cwd?: string; stateDir?: boolean} = {}): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [BIN, ...args, ...(options.stateDir === false ? [] : ['--state-dir', NESTED_STATE_DIR])], {
      env: {...process.env, VIRTLAB_RUN_DIR: NESTED_RUN_DIR, VIRTLAB_HOSTS_FILE: HOSTS_FILE},
      timeout: options.timeoutMs ?? 1_500_000, maxBuffer: 64 * 1024 * 1024, ...(options.cwd === undefined ? {} : {cwd: options.cwd}),
    })
    return {code: 0, stdout: r.stdout, stderr: r.stderr, json: parse(r.stdout)}
  } catch (error) {
    const e = error as {code?: number; stdout?: string; stderr?: string}
    return {code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '', json: parse(e.stdout ?? '')}
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The shared host, running: created (and built, the first time) or started as needed. */
export async function ensureSharedHost(): Promise<void> {
  const e = env()
  if ((await readHostConfig(e, HOST)) === undefined) {
    rmSync(HOSTS_FILE, {force: true})
    const r = await cli(['host', 'create', HOST, '--nested', '--memory', '6G', '--json'])
    if (r.code !== 0) throw new Error(`host create failed:\n${r.stdout}\n${r.stderr}`)
  } else if ((await runningPid(e, HOST)) === undefined) {
    const r = await cli(['host', 'start', HOST, '--json'])
    if (r.code !== 0) throw new Error(`host start failed:\n${r.stdout}\n${r.stderr}`)
  }
}

/** A fixed command in L1 over its ssh_config (test code; the product goes through the seam). */
export function l1(words: string[], timeoutMs = 60_000): string {
  const cfg = `${NESTED_STATE_DIR}/nested/hosts/${HOST}/ssh_config`
  return execFileSync('ssh', ['-F', cfg, `virtlab-${HOST}`, '--', ...words], {encoding: 'utf8', timeout: timeoutMs})
}

/** What a lab may change in L1 and must restore: links, netns, VFs, drivers, vdpa, vfio, hugepages, mounts, processes. */
export function l1State(): Record<string, string> {
  const read = (words: string[]): string => {
    try {
      return l1(words)
    } catch (error) {
      return `error: ${String((error as {stderr?: string}).stderr ?? error)}`
    }
  }
  return {
    links: read(['ip', '-br', 'link']).split('\n').map((l) => l.split(/\s+/).slice(0, 2).join(' ')).join('\n'),
    netns: read(['ip', 'netns', 'list']),
    numvfs: read(['cat', '/sys/bus/pci/devices/0000:01:00.0/sriov_numvfs']),
    pfDriver: read(['readlink', '/sys/bus/pci/devices/0000:01:00.0/driver']),
    vdpa: read(['vdpa', 'dev', 'show']),
    vfio: read(['ls', '/dev/vfio']),
    hugepages: read(['cat', '/proc/sys/vm/nr_hugepages']),
    mounts: read(['cat', '/proc/mounts']).split('\n').map((l) => l.split(' ').slice(0, 3).join(' ')).sort().join('\n'),
    processes: read(['ps', '-eo', 'comm=']).split('\n').filter((c) => !/^(sshd|sshd-session|sshd-auth|ps|kworker.*|sh|bash)$/.test(c.trim())).sort().join('\n'),
  }
}

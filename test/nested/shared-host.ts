/**
 * One nested lab host (L1) shared by the real tests that need one: created on first use (the
 * build is cached under a stable state directory, VIRTLAB_NESTED_STATE_DIR, default
 * /var/lib/virtlab-nested, so a run builds it at most once), removed by test/nested/global-setup.ts
 * at the end of the run. Driven through the CLI, like a user would.
 */
import {execFile} from 'node:child_process'
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
export async function cli(args: string[], timeoutMs = 1_500_000): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [BIN, ...args, '--state-dir', NESTED_STATE_DIR], {
      env: {...process.env, VIRTLAB_RUN_DIR: NESTED_RUN_DIR}, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024,
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
    const r = await cli(['host', 'create', HOST, '--nested', '--memory', '6G', '--json'])
    if (r.code !== 0) throw new Error(`host create failed:\n${r.stdout}\n${r.stderr}`)
  } else if ((await runningPid(e, HOST)) === undefined) {
    const r = await cli(['host', 'start', HOST, '--json'])
    if (r.code !== 0) throw new Error(`host start failed:\n${r.stdout}\n${r.stderr}`)
  }
}

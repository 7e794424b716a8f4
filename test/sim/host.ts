/**
 * A simulated host for tests: a temporary root built by kernel.mjs, a SimKernelFs over it, a real
 * ExecaRunner whose PATH starts with the fake tools (test/sim/bin), and a Context for the executor.
 * Also: hashing the whole tree (every file's bytes, link target and mode) to prove a byte-identical
 * restore.
 */
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Context, ProgressEvent} from '../../src/app/context.js'
import {testContext} from '../helpers/context.js'
import {ExecaRunner} from '../../src/host/runner.js'
import {buildHost, type SimHostSpec} from './kernel.mjs'
import {SimKernelFs, type SimKernelFsOptions} from './sim-fs.js'

export const SIM_BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bin')

export interface SimHost {
  root: string
  fs: SimKernelFs
  runner: ExecaRunner
  ctx: Context
  env: Record<string, string>
  events: ProgressEvent[]
  commands: string[][]
  cleanup(): void
}

/**
 * Build a simulated host. Also points process.env at it (PATH, VIRTLAB_SIM_ROOT): token resolvers
 * that run `ip` without a runner from the executor use the default runner, which reads process.env.
 */
export function simHost(spec: SimHostSpec, fsOptions: SimKernelFsOptions = {}): SimHost {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'virtlab-sim-'))
  buildHost(root, spec)
  const env = {PATH: `${SIM_BIN}:${process.env.PATH ?? '/usr/bin:/bin'}`, VIRTLAB_SIM_ROOT: root}
  process.env.PATH = env.PATH
  process.env.VIRTLAB_SIM_ROOT = root
  const commands: string[][] = []
  const runner = new ExecaRunner((argv) => commands.push([...argv]), env)
  const simFs = new SimKernelFs(root, fsOptions)
  const events: ProgressEvent[] = []
  const ctx: Context = testContext({runner, fs: simFs, packageRoot: process.cwd(), progress: (e) => events.push(e), env: {...process.env}})
  return {root, fs: simFs, runner, ctx, env, events, commands, cleanup: () => fs.rmSync(root, {recursive: true, force: true})}
}

/** Paths left out of tree comparisons, with the reason. */
const IGNORED: {test: (rel: string) => boolean; why: string}[] = [
  // virtlab's own state (journal, lock), not the host's.
  {test: (rel) => rel === '/var/lib/virtlab' || rel.startsWith('/var/lib/virtlab/'), why: 'virtlab state'},
  // Monotonic kernel counters (next ifindex): a real kernel never winds them back either.
  {test: (rel) => rel === '/.sim/counters.json', why: 'kernel counters'},
  {test: (rel) => rel.endsWith('/ifindex'), why: 'ifindex (kernel counter)'},
]

/** Every path of the tree -> "type mode content-hash|link-target". */
export function treeSnapshot(root: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (rel: string) => {
    const abs = path.join(root, rel)
    const st = fs.lstatSync(abs)
    if (IGNORED.some((i) => i.test(rel))) return
    const mode = (st.mode & 0o7777).toString(8)
    if (st.isSymbolicLink()) out.set(rel, `link ${mode} -> ${fs.readlinkSync(abs)}`)
    else if (st.isDirectory()) {
      out.set(rel, `dir ${mode}`)
      for (const e of fs.readdirSync(abs).sort()) walk(rel === '/' ? `/${e}` : `${rel}/${e}`)
    } else {
      let bytes = fs.readFileSync(abs)
      if (rel === '/.sim/state.json') {
        // ifindex values live in kernel memory here; see IGNORED.
        const state = JSON.parse(bytes.toString('utf8')) as {netdevs: Record<string, {ifindex?: number}>}
        for (const nd of Object.values(state.netdevs)) delete nd.ifindex
        bytes = Buffer.from(JSON.stringify(state))
      }
      out.set(rel, `file ${mode} ${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`)
    }
  }
  walk('/')
  return out
}

/** Human-readable differences between two snapshots (empty when identical). */
export function treeDiff(before: Map<string, string>, after: Map<string, string>): string[] {
  const lines: string[] = []
  for (const [p, v] of before) {
    if (!after.has(p)) lines.push(`- ${p} (${v})`)
    else if (after.get(p) !== v) lines.push(`~ ${p}: ${v} -> ${after.get(p) ?? ''}`)
  }
  for (const [p, v] of after) if (!before.has(p)) lines.push(`+ ${p} (${v})`)
  return lines
}

/** A typical 82576-like PF with SR-IOV, its VF driver loaded, vfio-pci available. */
export const IGB_PF = {bdf: '0000:03:00.0', netdev: 'enp3s0f0', driver: 'igb', totalvfs: 7, offset: 128, stride: 2}

/**
 * npm run bench:remote — what driving a host over SSH costs: round trips and wall time of
 * `doctor`, `up --dry-run` (virtio-qemu) and `status`, on this machine directly (the local
 * transport) and through a private sshd on 127.0.0.1 (the SSH transport: one ControlMaster, every
 * command and file operation a multiplexed session). Median of 5 runs each (after one warm-up);
 * the first connect (ControlMaster start + identity probe) is measured separately.
 *
 * Round trips: local counts the commands and file operations virtlab makes on the target (each
 * would be one round trip remotely; a batch counts once); SSH counts ssh invocations.
 * Targets: doctor within 20 SSH round trips; remote wall within 1.5x local. Exits 1 when missed.
 * Needs root and openssh-server (sshd); run under `flock /tmp/virtlab-real.lock`.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'

import {createContext} from '../src/app/context.js'
import {doctor} from '../src/app/doctor.js'
import {statusLabs} from '../src/app/status.js'
import {upLab} from '../src/app/up.js'
import {createTarget} from '../src/host/create.js'
import {RootedFs} from '../src/host/fs.js'
import {ExecaRunner} from '../src/host/runner.js'
import {LOCAL_SPEC, type HostSpec} from '../src/host/select.js'
import type {Context} from '../src/host/target.js'
import {startTestSshd} from '../test/helpers/sshd.js'

const RUNS = 5
const state = mkdtempSync(join(tmpdir(), 'virtlab-bench-remote-'))
const runBase = join(state, 'run')

type Op = 'doctor' | 'up --dry-run' | 'status'
const OPS: Record<Op, (ctx: Context) => Promise<unknown>> = {
  // The KVM probe's result is cached in the state directory after the warm-up run (as on any host).
  doctor: (ctx) => doctor(ctx, {}),
  'up --dry-run': (ctx) => upLab(ctx, {lab: 'virtio-qemu', dryRun: true}),
  status: (ctx) => statusLabs(ctx),
}

async function open(spec: HostSpec): Promise<Context> {
  const fs = new RootedFs('/')
  const target = await createTarget(spec, {localRunner: new ExecaRunner(), localFs: fs, stateDir: join(state, 'state'), runBase, env: process.env})
  return createContext({target})
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? Number.NaN
}

interface Measured {
  ms: number
  roundTrips: number
}

async function measure(ctx: Context, op: Op): Promise<Measured> {
  await OPS[op](ctx)
  const times: number[] = []
  let trips = 0
  for (let i = 0; i < RUNS; i++) {
    const before = ctx.target.roundTrips()
    const t0 = performance.now()
    await OPS[op](ctx)
    times.push(performance.now() - t0)
    trips = ctx.target.roundTrips() - before
  }
  return {ms: median(times), roundTrips: trips}
}

const sshd = await startTestSshd()
process.env.VIRTLAB_SSH_CONFIG = sshd.configFile
let failed = false
try {
  const local = await open(LOCAL_SPEC)
  const t0 = performance.now()
  const remote = await open({name: 'bench', transport: 'ssh', url: sshd.url, sudo: false})
  const connectMs = performance.now() - t0
  const connectTrips = remote.target.roundTrips()
  const rows: string[] = []
  rows.push(`SSH target ${sshd.url}: connect (ControlMaster + identity probe) ${connectMs.toFixed(0)} ms, ${connectTrips} round trips`)
  rows.push('')
  rows.push('operation       local ms  local trips   ssh ms  ssh trips  remote/local wall')
  for (const op of Object.keys(OPS) as Op[]) {
    const l = await measure(local, op)
    const r = await measure(remote, op)
    const ratio = r.ms / l.ms
    rows.push(`${op.padEnd(14)} ${l.ms.toFixed(0).padStart(9)} ${String(l.roundTrips).padStart(12)} ${r.ms.toFixed(0).padStart(8)} ${String(r.roundTrips).padStart(10)} ${ratio.toFixed(2).padStart(18)}x`)
    if (op === 'doctor' && r.roundTrips > 20) {
      rows.push(`  MISSED: doctor made ${r.roundTrips} SSH round trips (target: at most 20)`)
      failed = true
    }
    if (ratio > 1.5) {
      rows.push(`  MISSED: ${op} took ${ratio.toFixed(2)}x local over SSH (target: at most 1.5x)`)
      failed = true
    }
  }
  console.log(rows.join('\n'))
  await remote.target.close()
  await local.target.close()
} finally {
  await sshd.stop()
  rmSync(state, {recursive: true, force: true})
}
process.exitCode = failed ? 1 : 0

/**
 * npm run soak — faults, interrupts, repetition and concurrency on REAL labs, ending in a
 * summary table. Run it as root under the shared lock (it boots guests, starts and kills
 * daemons, reserves hugepages):
 *
 *   flock /tmp/virtlab-real.lock npm run soak                      # everything (long)
 *   flock /tmp/virtlab-real.lock npm run soak -- --short           # the CI form (a few of each)
 *   flock /tmp/virtlab-real.lock npm run soak -- --only cycles --cycles 30 --json /tmp/x/cycles-1.json
 *   npm run soak -- --summarize /tmp/x/*.json                      # merge chunk results into one table
 *
 * Sections (--only, comma separated):
 *   interrupts  SIGINT and SIGTERM at seeded random times during `up`, `test` and `down` of
 *               virtio-qemu (qemu driver); each trial must end with the host snapshot identical
 *               to the start after at most one `down`.
 *   kill        SIGKILL of virtlab during `up` of a lab that reserves hugepages and, with the
 *               libvirt driver, changes /dev/kvm's group and mode; `down` must finish from the
 *               journal and restore nr_hugepages and /dev/kvm (the snapshot includes them).
 *   cycles      N up/test/down cycles of virtio-qemu (qemu driver): growth of lab processes,
 *               daemon fds, links, netns, mounts, hugepages, /run entries, state dir entries,
 *               OVS ports, libvirt domains; time per cycle, first 10 vs last 10.
 *   concurrency two different labs up at once; two `up` of one lab; `down` during `up`.
 *   dying       ovs-vswitchd killed during `test` (vhost-user); libvirtd restarted during `up`;
 *               QEMU killed during `up`; the guest frozen (agent hung) during `test`; the state
 *               directory on a full tmpfs and read-only.
 *
 * The host snapshot is test/e2e/harness.ts's (netns, links, domains, hugepages, mounts, QEMU and
 * OVS processes, /dev/kvm owner and mode, DPDK runtime dirs, every file of the run's directory).
 */
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {ensureLibvirtd} from '../src/host/daemons.js'
import {BIN, type CliResult, type E2eEnv, type HostSnapshot, REPO, qemuPids, setUp, snapshot, tearDown} from '../test/e2e/harness.js'
import {rng} from '../test/helpers/rng.js'

// ---- options -----------------------------------------------------------------------------------

interface Options {
  short: boolean
  only: Set<string>
  seed: number
  cycles: number
  interrupts: number
  kills: number
  json: string | undefined
  summarize: string[] | undefined
}

const SECTIONS = ['interrupts', 'kill', 'cycles', 'concurrency', 'dying']

function parseArgs(argv: string[]): Options {
  const o: Options = {short: false, only: new Set(SECTIONS), seed: 11, cycles: 100, interrupts: 20, kills: 10, json: undefined, summarize: undefined}
  let cycles: number | undefined
  let interrupts: number | undefined
  let kills: number | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      return v
    }
    if (a === '--short') o.short = true
    else if (a === '--only') o.only = new Set(value().split(','))
    else if (a === '--seed') o.seed = Number(value())
    else if (a === '--cycles') cycles = Number(value())
    else if (a === '--interrupts') interrupts = Number(value())
    else if (a === '--kills') kills = Number(value())
    else if (a === '--json') o.json = value()
    else if (a === '--summarize') {
      o.summarize = argv.slice(i + 1)
      break
    } else throw new Error(`unknown argument ${a}`)
  }
  for (const s of o.only) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s} (${SECTIONS.join(', ')})`)
  o.cycles = cycles ?? (o.short ? 10 : 100)
  o.interrupts = interrupts ?? (o.short ? 2 : 20)
  o.kills = kills ?? (o.short ? 2 : 10)
  return o
}

// ---- results -----------------------------------------------------------------------------------

interface Trial {
  section: string
  name: string
  ok: boolean
  detail: string
  ms: number
}

interface CycleRow {
  cycle: number
  ms: number
  counts: Record<string, number>
}

interface Report {
  trials: Trial[]
  cycles: CycleRow[]
  baseline?: Record<string, number>
}

const report: Report = {trials: [], cycles: []}

function record(t: Trial): void {
  report.trials.push(t)
  console.log(`${t.ok ? 'ok  ' : 'FAIL'} [${t.section}] ${t.name} (${(t.ms / 1000).toFixed(1)} s): ${t.detail}`)
}

// ---- running the CLI ---------------------------------------------------------------------------

interface Running {
  child: ChildProcess
  done: Promise<CliResult>
  stderr: () => string
}

function start(env: E2eEnv, args: string[], timeoutMs = 600_000, extraEnv: Record<string, string> = {}): Running {
  const started = Date.now()
  const child = spawn(process.execPath, [BIN, ...args, '--json'], {
    cwd: REPO,
    env: {...process.env, VIRTLAB_STATE_DIR: env.stateDir, VIRTLAB_RUN_DIR: env.runBase, NO_COLOR: '1', ...extraEnv},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const done = new Promise<CliResult>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
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
  return {child, done, stderr: () => stderr}
}

function run(env: E2eEnv, args: string[], timeoutMs?: number, extraEnv?: Record<string, string>): Promise<CliResult> {
  return start(env, args, timeoutMs, extraEnv).done
}

function errorOf(r: CliResult): {code?: string; message?: string} {
  return ((r.json as {error?: {code?: string; message?: string}} | undefined)?.error) ?? {}
}

function describeExit(r: CliResult): string {
  const e = errorOf(r)
  return r.signal !== null ? `killed by ${r.signal}` : r.code === 0 ? 'exit 0' : `exit ${r.code} ${e.code ?? ''}`.trim()
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Until `pattern` appears in the process's stderr (progress events) or it exits. */
async function waitFor(r: Running, pattern: RegExp, timeoutMs = 300_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  let exited = false
  void r.done.then(() => {
    exited = true
  })
  while (Date.now() < deadline) {
    if (pattern.test(r.stderr())) return true
    if (exited) return false
    await sleep(50)
  }
  return false
}

// ---- the host snapshot and its differences -----------------------------------------------------

function diff(a: HostSnapshot, b: HostSnapshot): string[] {
  const out: string[] = []
  for (const key of Object.keys(a) as (keyof HostSnapshot)[]) {
    const x = JSON.stringify(a[key])
    const y = JSON.stringify(b[key])
    if (x === y) continue
    if (Array.isArray(a[key]) && Array.isArray(b[key])) {
      const left = (a[key] as string[]).filter((v) => !(b[key] as string[]).includes(v))
      const right = (b[key] as string[]).filter((v) => !(a[key] as string[]).includes(v))
      out.push(`${key}: ${left.length > 0 ? `-${left.slice(0, 3).join(' -')}` : ''} ${right.length > 0 ? `+${right.slice(0, 3).join(' +')}` : ''}`.trim())
    } else out.push(`${key}: ${x} -> ${y}`)
  }
  return out
}

/** Is anything of the lab left in the state or run directory? */
function labState(env: E2eEnv, lab: string): boolean {
  return existsSync(join(env.stateDir, lab)) || existsSync(join(env.runBase, lab))
}

/**
 * After a trial: at most one `down` (when the lab left state), then the snapshot must equal the
 * baseline. Returns the verdict; on failure, cleans up with `down --force` so the next trial
 * starts clean.
 */
async function settle(env: E2eEnv, lab: string, base: HostSnapshot, labArg = lab): Promise<{ok: boolean; downs: number; detail: string}> {
  let downs = 0
  let detail = ''
  if (labState(env, lab) || diff(base, snapshot(env)).length > 0) {
    const down = await run(env, ['down', labArg], 300_000)
    downs++
    if (down.code !== 0) detail = `down: ${describeExit(down)} ${errorOf(down).message?.slice(0, 200) ?? ''}`
  }
  const d = diff(base, snapshot(env))
  if (d.length === 0 && detail === '') return {ok: true, downs, detail: downs === 0 ? 'clean without down' : 'clean after one down'}
  await run(env, ['down', labArg, '--force'], 300_000)
  const after = diff(base, snapshot(env))
  return {ok: false, downs, detail: `${detail} left after ${downs} down: ${d.join('; ')}${after.length > 0 ? ` | even after --force: ${after.join('; ')}` : ''}`}
}

// ---- lab files ---------------------------------------------------------------------------------

function writeLab(env: E2eEnv, name: string, subnet: string, extraHost = ''): string {
  const dir = join(env.base, 'labs')
  mkdirSync(dir, {recursive: true})
  let text = readFileSync(join(REPO, 'labs', 'virtio-qemu.yaml'), 'utf8')
    .replace(/^name: virtio-qemu$/m, `name: ${name}`)
    .replaceAll('vlbr-virtio', `vlbr-${name.replace(/^soak-/, 's')}`)
    .replace(/default: "10\.99\.1"/, `default: "${subnet}"`)
  if (extraHost !== '') text = text.replace(/^host:\n/m, `host:\n${extraHost}`)
  const file = join(dir, `${name}.yaml`)
  writeFileSync(file, text)
  return file
}

const TEST_ARGS = (env: E2eEnv, lab: string) => ['test', lab, '--trials', '1', '--duration', '3', '--warmup', '0', '--latency-samples', '0', '--out', env.resultsDir]

// ---- sections ----------------------------------------------------------------------------------

interface Calibration {
  upMs: number
  testMs: number
  downMs: number
}

async function calibrate(env: E2eEnv): Promise<Calibration> {
  const up = await run(env, ['up', 'virtio-qemu', '--driver', 'qemu'])
  if (up.code !== 0) throw new Error(`calibration up failed: ${describeExit(up)} ${up.stdout.slice(0, 2000)}`)
  const test = await run(env, TEST_ARGS(env, 'virtio-qemu'))
  const down = await run(env, ['down', 'virtio-qemu'])
  if (test.code !== 0 || down.code !== 0) throw new Error(`calibration test/down failed: ${describeExit(test)} / ${describeExit(down)}`)
  console.log(`calibration: up ${(up.ms / 1000).toFixed(1)} s, test ${(test.ms / 1000).toFixed(1)} s, down ${(down.ms / 1000).toFixed(1)} s`)
  return {upMs: up.ms, testMs: test.ms, downMs: down.ms}
}

async function interrupts(env: E2eEnv, o: Options, cal: Calibration): Promise<void> {
  const random = rng(o.seed)
  const lab = 'virtio-qemu'
  const trials: {signal: NodeJS.Signals; phase: 'up' | 'test' | 'down'}[] = []
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    for (let i = 0; i < o.interrupts; i++) trials.push({signal, phase: (['up', 'test', 'down'] as const)[i % 3] as 'up' | 'test' | 'down'})
  }
  for (const [n, t] of trials.entries()) {
    const base = snapshot(env)
    const startedAt = Date.now()
    const phaseMs = t.phase === 'up' ? cal.upMs : t.phase === 'test' ? cal.testMs : cal.downMs
    const delay = Math.round(random() * phaseMs)
    let outcome = ''
    if (t.phase !== 'up') {
      const up = await run(env, ['up', lab, '--driver', 'qemu'])
      if (up.code !== 0) {
        record({section: 'interrupts', name: `#${n + 1} ${t.signal} during ${t.phase}`, ok: false, detail: `setup up failed: ${describeExit(up)}`, ms: Date.now() - startedAt})
        await settle(env, lab, base)
        continue
      }
    }
    const args = t.phase === 'up' ? ['up', lab, '--driver', 'qemu'] : t.phase === 'test' ? TEST_ARGS(env, lab) : ['down', lab]
    const r = start(env, args)
    await Promise.race([sleep(delay), r.done])
    r.child.kill(t.signal)
    const result = await r.done
    outcome = describeExit(result)
    const verdict = await settle(env, lab, base)
    record({
      section: 'interrupts',
      name: `#${n + 1} ${t.signal} during ${t.phase} at ${(delay / 1000).toFixed(1)} s`,
      ok: verdict.ok && verdict.downs <= 1,
      detail: `${outcome}; ${verdict.detail}`,
      ms: Date.now() - startedAt,
    })
  }
}

async function kills(env: E2eEnv, o: Options): Promise<void> {
  const random = rng(o.seed + 1)
  const lab = 'soak-hp'
  const file = writeLab(env, lab, '10.99.73', '  hugepages:\n    size: 2M\n    count: 16\n')
  // One clean run for the timing (and to check the lab works).
  const base0 = snapshot(env)
  const probe = await run(env, ['up', file, '--driver', 'libvirt'])
  if (probe.code !== 0) {
    record({section: 'kill', name: 'setup', ok: false, detail: `up ${lab} failed: ${describeExit(probe)} ${errorOf(probe).message?.slice(0, 300) ?? ''}`, ms: probe.ms})
    await settle(env, lab, base0)
    return
  }
  const upMs = probe.ms
  await settle(env, lab, base0)
  for (let n = 0; n < o.kills; n++) {
    const base = snapshot(env)
    const startedAt = Date.now()
    const delay = Math.round(random() * upMs)
    const r = start(env, ['up', file, '--driver', 'libvirt'])
    await Promise.race([sleep(delay), r.done])
    r.child.kill('SIGKILL')
    const result = await r.done
    const during = snapshot(env)
    const changed = diff(base, during)
    // down from the journal alone (the killed process is gone; its lock is stale).
    let how = 'down'
    let down = await run(env, ['down', lab], 300_000)
    if (down.code !== 0 && ['NO_JOURNAL', 'JOURNAL_CORRUPT'].includes(errorOf(down).code ?? '')) {
      how = `down (${errorOf(down).code}), then down --force`
      down = await run(env, ['down', lab, '--force'], 300_000)
    }
    const left = diff(base, snapshot(env))
    const ok = down.code === 0 && left.length === 0
    record({
      section: 'kill',
      name: `#${n + 1} SIGKILL during up at ${(delay / 1000).toFixed(1)} s`,
      ok,
      detail: `${describeExit(result)}; changed then: ${changed.map((c) => c.split(':')[0]).join(',') || 'nothing'}; ${how}: ${describeExit(down)}; ${left.length === 0 ? 'hugepages, /dev/kvm and everything else restored' : `left: ${left.join('; ')}`}`,
      ms: Date.now() - startedAt,
    })
    if (!ok) await run(env, ['down', lab, '--force'], 300_000)
  }
}

// Resource counts for the cycles section.
function sh(argv: string[]): string {
  try {
    return execFileSync(argv[0] as string, argv.slice(1), {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']})
  } catch (error) {
    return (error as {stdout?: string}).stdout ?? ''
  }
}

function pidsOf(comm: RegExp): number[] {
  const out: number[] = []
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (comm.test(readFileSync(`/proc/${pid}/comm`, 'utf8').trim())) out.push(Number(pid))
    } catch {
      // gone
    }
  }
  return out
}

function fdCount(pids: number[]): number {
  let n = 0
  for (const pid of pids) {
    try {
      n += readdirSync(`/proc/${pid}/fd`).length
    } catch {
      // gone
    }
  }
  return n
}

function treeCount(dir: string): number {
  if (!existsSync(dir)) return 0
  let n = 0
  const walk = (d: string) => {
    let entries: string[] = []
    try {
      entries = readdirSync(d)
    } catch {
      return
    }
    for (const e of entries) {
      n++
      const p = join(d, e)
      try {
        readlinkSync(p)
        continue
      } catch {
        // not a symlink
      }
      try {
        if (readdirSync(p)) walk(p)
      } catch {
        // not a directory
      }
    }
  }
  walk(dir)
  return n
}

function counts(env: E2eEnv): Record<string, number> {
  const meminfo = readFileSync('/proc/meminfo', 'utf8')
  const ovsUp = pidsOf(/^ovsdb-server$/).length > 0
  return {
    'lab processes (qemu, iperf3, ovs)': pidsOf(/^(qemu|iperf3|ovs)/).length,
    'zombies': readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((pid) => {
      try {
        return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
      } catch {
        return false
      }
    }).length,
    'libvirtd fds': fdCount(pidsOf(/^libvirtd$/)),
    'virtlogd fds': fdCount(pidsOf(/^virtlogd$/)),
    'ovsdb-server fds': fdCount(pidsOf(/^ovsdb-server$/)),
    'ovs-vswitchd fds': fdCount(pidsOf(/^ovs-vswitchd$/)),
    'links': sh(['ip', '-o', 'link', 'show']).split('\n').filter(Boolean).length,
    'netns': sh(['ip', 'netns', 'list']).split('\n').filter(Boolean).length,
    'mounts': readFileSync('/proc/mounts', 'utf8').split('\n').filter(Boolean).length,
    'hugepages total': Number(/^HugePages_Total:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0),
    'entries under /run': treeCount('/run'),
    'entries under the state dir': treeCount(env.stateDir),
    'entries under the run base': treeCount(env.runBase),
    'OVS ports (system)': ovsUp ? sh(['ovs-vsctl', '--timeout=5', 'show']).split('\n').filter((l) => /^\s+Port /.test(l)).length : 0,
    'libvirt domains': sh(['virsh', '-c', 'qemu:///system', 'list', '--all', '--name']).split('\n').filter((l) => l.trim() !== '').length,
  }
}

async function cycles(env: E2eEnv, o: Options): Promise<void> {
  const lab = 'virtio-qemu'
  const base = snapshot(env)
  report.baseline = counts(env)
  let failures = 0
  for (let c = 1; c <= o.cycles; c++) {
    const startedAt = Date.now()
    const up = await run(env, ['up', lab, '--driver', 'qemu'])
    const test = up.code === 0 ? await run(env, TEST_ARGS(env, lab)) : undefined
    const down = await run(env, ['down', lab], 300_000)
    const ms = Date.now() - startedAt
    const row = {cycle: c, ms, counts: counts(env)}
    report.cycles.push(row)
    const d = diff(base, snapshot(env))
    const ok = up.code === 0 && test?.code === 0 && down.code === 0 && d.length === 0
    if (!ok) {
      failures++
      record({section: 'cycles', name: `cycle ${c}`, ok: false, detail: `up ${describeExit(up)} ${errorOf(up).message?.slice(0, 300) ?? ''}, test ${test ? `${describeExit(test)} ${errorOf(test).message?.slice(0, 200) ?? ''}` : 'not run'}, down ${describeExit(down)}; ${d.join('; ')}`, ms})
      if (d.length > 0) await run(env, ['down', lab, '--force'], 300_000)
    }
    if (c % 10 === 0 || c === o.cycles) console.log(`cycle ${c}/${o.cycles}: ${(ms / 1000).toFixed(1)} s`)
  }
  record({section: 'cycles', name: `${o.cycles} up/test/down cycles of ${lab}`, ok: failures === 0, detail: `${failures} failed cycle(s)`, ms: report.cycles.reduce((s, r) => s + r.ms, 0)})
}

async function concurrency(env: E2eEnv): Promise<void> {
  // Two different labs at once.
  {
    const a = writeLab(env, 'soak-a', '10.99.71')
    const b = writeLab(env, 'soak-b', '10.99.72')
    const base = snapshot(env)
    const startedAt = Date.now()
    const ups = await Promise.all([run(env, ['up', a, '--driver', 'qemu']), run(env, ['up', b, '--driver', 'qemu'])])
    const status = await run(env, ['status'])
    const shown = ((status.json as {labs?: {lab: string; journal: string}[]} | undefined)?.labs ?? []).filter((l) => l.journal === 'ok').map((l) => l.lab)
    const downs = await Promise.all([run(env, ['down', 'soak-a']), run(env, ['down', 'soak-b'])])
    const left = diff(base, snapshot(env))
    record({
      section: 'concurrency',
      name: 'two different labs up at once, then down at once',
      ok: ups.every((u) => u.code === 0) && downs.every((d) => d.code === 0) && shown.includes('soak-a') && shown.includes('soak-b') && left.length === 0,
      detail: `ups: ${ups.map(describeExit).join(', ')}; status shows ${shown.join(', ')}; downs: ${downs.map(describeExit).join(', ')}; ${left.length === 0 ? 'nothing left' : left.join('; ')}`,
      ms: Date.now() - startedAt,
    })
    if (left.length > 0) for (const lab of ['soak-a', 'soak-b']) await run(env, ['down', lab, '--force'])
  }
  // Two `up` of one lab.
  {
    const base = snapshot(env)
    const startedAt = Date.now()
    const ups = await Promise.all([run(env, ['up', 'virtio-qemu', '--driver', 'qemu']), sleep(300).then(() => run(env, ['up', 'virtio-qemu', '--driver', 'qemu']))])
    const refused = ups.filter((u) => errorOf(u).code === 'LAB_LOCKED')
    const succeeded = ups.filter((u) => u.code === 0)
    const naming = refused.length === 1 && /locked by process \d+/.test(errorOf(refused[0] as CliResult).message ?? '')
    const verdict = await settle(env, 'virtio-qemu', base)
    record({
      section: 'concurrency',
      name: 'two `up` of one lab at once',
      ok: succeeded.length === 1 && refused.length === 1 && naming && verdict.ok,
      detail: `${ups.map(describeExit).join(', ')}; refusal: ${refused.map((r) => errorOf(r).message).join('') || 'none'}; ${verdict.detail}`,
      ms: Date.now() - startedAt,
    })
  }
  // `down` during `up`.
  {
    const base = snapshot(env)
    const startedAt = Date.now()
    const up = start(env, ['up', 'virtio-qemu', '--driver', 'qemu'])
    await waitFor(up, /"stepId":"vm:vm1:start"/)
    const down = await run(env, ['down', 'virtio-qemu'])
    const upResult = await up.done
    const verdict = await settle(env, 'virtio-qemu', base)
    record({
      section: 'concurrency',
      name: '`down` during `up`',
      ok: errorOf(down).code === 'LAB_LOCKED' && upResult.code === 0 && verdict.ok && verdict.downs === 1,
      detail: `down: ${describeExit(down)} (${errorOf(down).message ?? ''}); up: ${describeExit(upResult)}; ${verdict.detail}`,
      ms: Date.now() - startedAt,
    })
  }
}

function mount(argv: string[]): void {
  execFileSync('mount', argv, {stdio: 'ignore'})
}

async function dying(env: E2eEnv): Promise<void> {
  // QEMU killed while `up` waits for the guest.
  {
    const base = snapshot(env)
    const startedAt = Date.now()
    const up = start(env, ['up', 'virtio-qemu', '--driver', 'qemu'])
    await waitFor(up, /"type":"step-done","stepId":"vm:vm1:start"/)
    const pid = qemuPids('virtio-qemu').get('vm1')
    if (pid !== undefined) process.kill(pid, 'SIGKILL')
    const r = await up.done
    const verdict = await settle(env, 'virtio-qemu', base)
    record({section: 'dying', name: 'QEMU killed during `up`', ok: pid !== undefined && r.code !== 0 && (errorOf(r).code ?? '') !== '' && verdict.ok, detail: `${describeExit(r)}: ${errorOf(r).message?.slice(0, 160) ?? ''}; ${verdict.detail}`, ms: Date.now() - startedAt})
  }
  // The guest agent hung: the guest frozen (SIGSTOP of its QEMU) during `test`.
  {
    const base = snapshot(env)
    const startedAt = Date.now()
    const up = await run(env, ['up', 'virtio-qemu', '--driver', 'qemu'])
    const pid = qemuPids('virtio-qemu').get('vm1')
    let detail = `up ${describeExit(up)}`
    let ok = false
    if (up.code === 0 && pid !== undefined) {
      const t = start(env, ['test', 'virtio-qemu', '--trials', '1', '--duration', '20', '--warmup', '0', '--latency-samples', '0', '--out', env.resultsDir], 240_000)
      await sleep(4000)
      process.kill(pid, 'SIGSTOP')
      const r = await t.done
      process.kill(pid, 'SIGCONT')
      ok = r.code !== 0 && (errorOf(r).code ?? '') !== '' && r.signal === null
      detail = `test ${describeExit(r)} after ${(r.ms / 1000).toFixed(0)} s: ${errorOf(r).message?.slice(0, 160) ?? ''}`
    }
    const verdict = await settle(env, 'virtio-qemu', base)
    record({section: 'dying', name: 'guest agent hung (guest frozen) during `test`', ok: ok && verdict.ok, detail: `${detail}; ${verdict.detail}`, ms: Date.now() - startedAt})
  }
  // libvirtd restarted during `up` (libvirt driver).
  {
    const base = snapshot(env)
    const startedAt = Date.now()
    const up = start(env, ['up', 'virtio-qemu', '--driver', 'libvirt'])
    await waitFor(up, /"type":"step-start","stepId":"vm:vm1:(define|start)"/)
    const before = pidsOf(/^libvirtd$/)
    for (const pid of before) process.kill(pid, 'SIGTERM')
    for (let i = 0; i < 100 && pidsOf(/^libvirtd$/).some((p) => before.includes(p)); i++) await sleep(100)
    await ensureLibvirtd(env.ctx)
    const r = await up.done
    const clear = r.code === 0 || (errorOf(r).code ?? '') !== ''
    const verdict = await settle(env, 'virtio-qemu', base)
    record({section: 'dying', name: 'libvirtd restarted during `up`', ok: clear && verdict.ok, detail: `libvirtd ${before.join(',')} -> ${pidsOf(/^libvirtd$/).join(',')}; up ${describeExit(r)} ${errorOf(r).message?.slice(0, 160) ?? ''}; ${verdict.detail}`, ms: Date.now() - startedAt})
  }
  // ovs-vswitchd killed during `test` (vhost-user, the lab's OVS-DPDK).
  {
    const base = snapshot(env)
    const startedAt = Date.now()
    const up = await run(env, ['up', 'vhost-user', '--driver', 'qemu'], 600_000)
    let detail = `up ${describeExit(up)} ${errorOf(up).message?.slice(0, 200) ?? ''}`
    let ok = false
    if (up.code === 0) {
      const t = start(env, ['test', 'vhost-user', '--trials', '1', '--duration', '20', '--warmup', '0', '--latency-samples', '0', '--out', env.resultsDir], 240_000)
      await sleep(5000)
      const pids = pidsOf(/^ovs-vswitchd/)
      for (const pid of pids) process.kill(pid, 'SIGKILL')
      const r = await t.done
      ok = pids.length > 0 && r.code !== 0 && (errorOf(r).code ?? '') !== ''
      detail = `killed ovs-vswitchd ${pids.join(',')}; test ${describeExit(r)}: ${errorOf(r).message?.slice(0, 160) ?? ''}`
    }
    const verdict = await settle(env, 'vhost-user', base)
    record({section: 'dying', name: 'ovs-vswitchd killed during `test` (vhost-user)', ok: ok && verdict.ok, detail: `${detail}; ${verdict.detail}`, ms: Date.now() - startedAt})
  }
  // The state directory on a full tmpfs, then read-only.
  for (const kind of ['full', 'read-only'] as const) {
    const dir = join(env.base, `small-${kind}`)
    mkdirSync(dir, {recursive: true})
    mount(['-t', 'tmpfs', '-o', 'size=4m,mode=0755', 'tmpfs', dir])
    const small = {...env, stateDir: join(dir, 'state')}
    const startedAt = Date.now()
    let detail = ''
    let ok = false
    try {
      mkdirSync(small.stateDir, {mode: 0o755})
      // The guest image stays on the big state dir (a symlink would be refused): point the small one at it by a bind mount.
      mkdirSync(join(small.stateDir, 'images'))
      mount(['--bind', join(env.stateDir, 'images'), join(small.stateDir, 'images')])
      if (existsSync(join(env.stateDir, 'kvm-probe.json'))) writeFileSync(join(small.stateDir, 'kvm-probe.json'), readFileSync(join(env.stateDir, 'kvm-probe.json')))
      // The baseline before filling / remounting: both are undone before the final comparison.
      const base = snapshot(env)
      if (kind === 'full') {
        try {
          writeFileSync(join(small.stateDir, 'filler'), Buffer.alloc(8 << 20))
        } catch {
          // ENOSPC: full, as wanted
        }
      } else mount(['-o', 'remount,ro', dir])
      const up = await run(small as E2eEnv, ['up', 'virtio-qemu', '--driver', 'qemu'])
      const e = errorOf(up)
      const afterUp = diff(base, snapshot(env))
      if (kind === 'read-only') mount(['-o', 'remount,rw', dir])
      else execFileSync('rm', ['-f', join(small.stateDir, 'filler')])
      const down = await run(small as E2eEnv, ['down', 'virtio-qemu'], 300_000)
      const left = diff(base, snapshot(env))
      ok = up.code !== 0 && e.code === 'STATE_DIR_UNWRITABLE' && left.length === 0 && down.code === 0
      detail = `up ${describeExit(up)}: ${e.message?.slice(0, 200) ?? ''}; left by up: ${afterUp.join('; ') || 'nothing'}; down ${describeExit(down)}; ${left.length === 0 ? 'nothing left' : left.join('; ')}`
    } catch (error) {
      detail = `harness error: ${error instanceof Error ? error.message : String(error)}`
    } finally {
      try {
        execFileSync('umount', [join(small.stateDir, 'images')], {stdio: 'ignore'})
      } catch {
        // not mounted
      }
      execFileSync('umount', [dir], {stdio: 'ignore'})
    }
    record({section: 'dying', name: `state dir on a ${kind === 'full' ? 'full 4 MiB' : 'read-only'} tmpfs`, ok, detail, ms: Date.now() - startedAt})
  }
}

// ---- the summary table -------------------------------------------------------------------------

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length)
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  return rows.map((r, j) => {
    const line = `| ${r.map((c, i) => pad(c, widths[i] ?? 0)).join(' | ')} |`
    return j === 0 ? `${line}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|` : line
  }).join('\n')
}

function mean(xs: number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((s, x) => s + x, 0) / xs.length
}

export function summarize(r: Report): {text: string; failures: number} {
  const out: string[] = []
  const bySection = new Map<string, Trial[]>()
  for (const t of r.trials) bySection.set(t.section, [...(bySection.get(t.section) ?? []), t])
  const rows: string[][] = [['section', 'trials', 'passed', 'failed', 'wall']]
  for (const [section, ts] of bySection) {
    rows.push([section, String(ts.length), String(ts.filter((t) => t.ok).length), String(ts.filter((t) => !t.ok).length), `${(ts.reduce((s, t) => s + t.ms, 0) / 1000).toFixed(0)} s`])
  }
  out.push('## soak summary', '', table(rows), '')
  const interrupts = bySection.get('interrupts') ?? []
  if (interrupts.length > 0) {
    const irows: string[][] = [['signal', 'during', 'trials', 'clean (<= 1 down)', 'clean without down']]
    for (const signal of ['SIGINT', 'SIGTERM']) {
      for (const phase of ['up', 'test', 'down']) {
        const ts = interrupts.filter((t) => t.name.includes(`${signal} during ${phase} `))
        if (ts.length === 0) continue
        irows.push([signal, phase, String(ts.length), String(ts.filter((t) => t.ok).length), String(ts.filter((t) => t.detail.includes('clean without down')).length)])
      }
    }
    out.push('### interrupts', '', table(irows), '')
  }
  if (r.cycles.length > 0) {
    const first = r.cycles.slice(0, 10)
    const last = r.cycles.slice(-10)
    const keys = Object.keys(r.cycles[0]?.counts ?? {})
    const crows: string[][] = [['resource', 'before', 'after cycle 1', `after cycle ${r.cycles.length}`, 'growth (last - first)']]
    for (const k of keys) {
      const a = r.cycles[0]?.counts[k] ?? 0
      const b = r.cycles[r.cycles.length - 1]?.counts[k] ?? 0
      crows.push([k, String(r.baseline?.[k] ?? '-'), String(a), String(b), String(b - a)])
    }
    out.push(`### cycles (${r.cycles.length})`, '', table(crows), '')
    out.push(`time per cycle: first 10 mean ${(mean(first.map((c) => c.ms)) / 1000).toFixed(1)} s, last 10 mean ${(mean(last.map((c) => c.ms)) / 1000).toFixed(1)} s, all: min ${(Math.min(...r.cycles.map((c) => c.ms)) / 1000).toFixed(1)} s / max ${(Math.max(...r.cycles.map((c) => c.ms)) / 1000).toFixed(1)} s`, '')
  }
  const failed = r.trials.filter((t) => !t.ok)
  const detailRows = r.trials.filter((t) => t.section !== 'interrupts' && t.section !== 'cycles').map((t) => [t.section, t.name, t.ok ? 'ok' : 'FAIL', t.detail.slice(0, 220)])
  if (detailRows.length > 0) out.push('### kill, concurrency, dying parts', '', table([['section', 'case', 'result', 'detail'], ...detailRows]), '')
  if (failed.length > 0) out.push('### failures', '', ...failed.map((t) => `- [${t.section}] ${t.name}: ${t.detail}`), '')
  return {text: out.join('\n'), failures: failed.length}
}

function merge(files: string[]): Report {
  const merged: Report = {trials: [], cycles: []}
  for (const f of files) {
    const r = JSON.parse(readFileSync(f, 'utf8')) as Report
    merged.trials.push(...r.trials.filter((t) => t.section !== 'cycles' || !t.name.includes('up/test/down cycles')))
    const offset = merged.cycles.length
    merged.cycles.push(...r.cycles.map((c) => ({...c, cycle: c.cycle + offset})))
    if (merged.baseline === undefined && r.baseline !== undefined) merged.baseline = r.baseline
  }
  if (merged.cycles.length > 0) {
    const failures = merged.trials.filter((t) => t.section === 'cycles' && !t.ok).length
    merged.trials.push({section: 'cycles', name: `${merged.cycles.length} up/test/down cycles`, ok: failures === 0, detail: `${failures} failed cycle(s)`, ms: merged.cycles.reduce((s, c) => s + c.ms, 0)})
  }
  return merged
}

export async function soak(o: Options): Promise<{text: string; failures: number}> {
  if (o.summarize !== undefined) return summarize(merge(o.summarize))
  if (process.getuid?.() !== 0) throw new Error('the soak runs real labs: run it as root, under flock /tmp/virtlab-real.lock')
  console.log(`soak: ${[...o.only].join(', ')}; seed ${o.seed}; ${o.short ? 'short' : 'full'} (${o.interrupts} interrupts per signal, ${o.kills} kills, ${o.cycles} cycles)`)
  const env = await setUp()
  const wall = Date.now()
  try {
    if (o.only.has('interrupts')) await interrupts(env, o, await calibrate(env))
    if (o.only.has('kill')) await kills(env, o)
    if (o.only.has('cycles')) await cycles(env, o)
    if (o.only.has('concurrency')) await concurrency(env)
    if (o.only.has('dying')) await dying(env)
  } finally {
    await tearDown(env)
  }
  console.log(`soak wall time ${((Date.now() - wall) / 1000).toFixed(0)} s`)
  if (o.json !== undefined) writeFileSync(o.json, JSON.stringify(report, null, 2))
  return summarize(report)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const options = parseArgs(process.argv.slice(2))
  soak(options).then(({text, failures}) => {
    console.log(`\n${text}`)
    process.exitCode = failures > 0 ? 1 : 0
  }, (error: unknown) => {
    console.error(error instanceof Error ? error.stack : String(error))
    process.exitCode = 1
  })
}

export {parseArgs}

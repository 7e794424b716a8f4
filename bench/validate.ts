/**
 * npm run bench:validate — validation stays linear in the size of the lab file (issue 11, item 11).
 * Generates labs of about 1 MB (just under MAX_LAB_BYTES) in the shapes that used to be quadratic
 * or that stress one stage each, validates each (YAML + parameters + schema + rules) and prints the
 * median of 5 runs after one warm-up, at 1/4, 1/2, 3/4 and 1 MB so the growth is visible (linear:
 * time doubles with size; quadratic: it quadruples). Target: every size of every shape under 1 s.
 * Exits non-zero when a target is missed.
 */
import * as os from 'node:os'
import {performance} from 'node:perf_hooks'

import {MAX_LAB_BYTES} from '../src/lab/parse.js'
import {validateLabText} from '../src/lab/validate.js'

const TARGET_MS = 1000
const RUNS = 5

/** Append lines from `line(i)` until the text would pass `bytes`. */
function fill(head: string, bytes: number, line: (i: number) => string, tail = ''): string {
  const parts = [head]
  let size = Buffer.byteLength(head) + Buffer.byteLength(tail)
  for (let i = 0; ; i++) {
    const next = line(i)
    const n = Buffer.byteLength(next)
    if (size + n > bytes) break
    parts.push(next)
    size += n
  }
  parts.push(tail)
  return parts.join('')
}

const HEAD = 'name: big\ndescription: "a generated lab for the validation benchmark"\n'
const VALID_TAIL = 'switches:\n  - {name: br0, type: linux-bridge}\nvms:\n  - name: vm1\n    nics: [{backend: virtio-qemu, switch: br0}]\n'

const SHAPES: Record<string, (bytes: number) => string> = {
  // 40,000 keys in 430 KB took 20 s: every key was compared with every earlier key (yaml's uniqueKeys).
  'unknown top-level keys': (bytes) => fill(HEAD, bytes, (i) => `key${i}: ${i}\n`, 'vms: []\n'),
  // Every unknown key is a problem located through the source map.
  'unknown keys in one VM': (bytes) => fill(`${HEAD}switches: [{name: br0, type: linux-bridge}]\nvms:\n  - name: vm1\n    nics: [{backend: virtio-qemu, switch: br0}]\n`, bytes, (i) => `    extra${i}: ${i}\n`),
  // Far more parameters than allowed (maxProperties) and the value budget.
  'parameters': (bytes) => fill(`${HEAD}parameters:\n`, bytes, (i) => `  p${i}: {default: ${i}}\n`, 'vms: []\n'),
  // Each VM fails two unions (machine, backend): 6,000 took 77 s in the schema pass.
  'VMs with wrong enums': (bytes) => fill(`${HEAD}vms:\n`, bytes, (i) => `  - {name: v${i}, machine: zz, nics: [{backend: bad, switch: b}]}\n`),
  // A valid lab under a megabyte of comments.
  'comments + valid lab': (bytes) => fill(HEAD, bytes, (i) => `# comment line ${i} ${'x'.repeat(60)}\n`, VALID_TAIL),
  // One huge cpuset string (the schema bounds it to 64 ranges).
  'huge cpuset': (bytes) => `${HEAD}switches: [{name: br0, type: linux-bridge}]\nvms:\n  - name: vm1\n    vcpus: 255\n    cpuset: "${fill('0', bytes - 200, (i) => `,${i % 4000}`)}"\n    nics: [{backend: virtio-qemu, switch: br0}]\n`,
  // Long strings everywhere a string may stand.
  'long strings': (bytes) => fill(`${HEAD}vms:\n`, bytes, (i) => `  - {name: "${'n'.repeat(200)}${i}", memory: "${'9'.repeat(200)}M", nics: [{backend: virtio-qemu, switch: "${'s'.repeat(200)}"}]}\n`),
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

/** Median wall and CPU time (user + system of this process) of RUNS validations. */
function time(text: string): {ms: number, cpuMs: number, problems: number} {
  validateLabText(text, 'bench.yaml')
  const times: number[] = []
  const cpu: number[] = []
  let problems = 0
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now()
    const cpuStart = process.cpuUsage()
    problems = validateLabText(text, 'bench.yaml').problems.length
    const used = process.cpuUsage(cpuStart)
    times.push(performance.now() - start)
    cpu.push((used.user + used.system) / 1000)
  }
  return {ms: median(times), cpuMs: median(cpu), problems}
}

const FRACTIONS = [0.25, 0.5, 0.75, 1]
const rows: string[][] = [['shape', 'bytes (1 MB)', 'problems', ...FRACTIONS.map((f) => `${f} MB wall/cpu ms`), 'worst', 'target']]
let failed = 0
for (const [name, make] of Object.entries(SHAPES)) {
  const results = FRACTIONS.map((f) => time(make(Math.floor(MAX_LAB_BYTES * f))))
  // The target is on wall time; on a shared machine wall time includes waiting for a core, so CPU
  // time is printed next to it (this process only; GC threads can make it exceed wall time).
  const worst = Math.max(...results.map((r) => r.ms))
  const ok = worst < TARGET_MS
  if (!ok) failed++
  rows.push([name, String(Buffer.byteLength(make(MAX_LAB_BYTES))), String(results.at(-1)?.problems), ...results.map((r) => `${r.ms.toFixed(0)}/${r.cpuMs.toFixed(0)}`), worst.toFixed(0), ok ? `< ${TARGET_MS} ok` : `>= ${TARGET_MS} MISSED`])
}
const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? []
for (const row of rows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  '))
console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs`)
console.log(failed === 0 ? `validate: every ~1 MB shape under ${TARGET_MS} ms (median of ${RUNS})` : `validate: ${failed} shape(s) missed the ${TARGET_MS} ms target`)
process.exitCode = failed === 0 ? 0 : 1

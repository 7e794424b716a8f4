/**
 * npm run fuzz [-- --cases N] [--seed S] [--from I] [--json FILE] [--case I]
 *
 * Runs N seeded fuzz cases (default 2,000; seed default 1) in worker processes, each case bounded
 * in time: a worker reports every case it starts and finishes; one that goes silent for longer
 * than the bound is killed, the case is recorded as a hang, and a new worker resumes after it.
 * Ends with the summary table (cases per target, accepted / rejected, findings by kind, time) and
 * the distinct findings, each with the seed and input of its first case. `--case I` runs one case
 * in this process and prints it in full (to reproduce a finding). Exits 1 when there are findings.
 */
import {fork} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {cpus} from 'node:os'

import {type CaseResult, CASE_LIMIT_MS, cleanupScratch, fieldCount, runCase, targetOf} from '../test/fuzz/engine.js'
import {caseSeed} from '../test/fuzz/mutate.js'
import {Summary} from '../test/fuzz/summary.js'

interface Args {
  cases: number
  seed: number
  from: number
  json: string | undefined
  one: number | undefined
  workers: number
  worker: boolean
  to: number
}

function parseArgs(argv: string[]): Args {
  const args: Args = {cases: 2000, seed: 1, from: 0, json: undefined, one: undefined, workers: Math.max(1, Math.min(2, cpus().length)), worker: false, to: 0}
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = argv[i + 1]
    const num = () => {
      const n = Number(value)
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${flag} needs a whole number`)
      i++
      return n
    }
    switch (flag) {
      case '--cases': args.cases = num(); break
      case '--seed': args.seed = num(); break
      case '--from': args.from = num(); break
      case '--to': args.to = num(); break
      case '--workers': args.workers = Math.max(1, num()); break
      case '--case': args.one = num(); break
      case '--json': args.json = value; i++; break
      case '--worker': args.worker = true; break
      default: throw new Error(`unknown argument ${flag} (see the comment at the top of scripts/fuzz.ts)`)
    }
  }
  return args
}

type Message = {type: 'start'; index: number} | {type: 'done'; result: CaseResult}

/** Worker: run cases [from, to) and report each start and result to the parent. */
async function worker(args: Args): Promise<void> {
  for (let index = args.from; index < args.to; index++) {
    process.send?.({type: 'start', index} satisfies Message)
    const result = await runCase(index, caseSeed(args.seed, index))
    process.send?.({type: 'done', result} satisfies Message)
  }
  cleanupScratch()
}

/** Run [from, to) in a child; restart after a case that hangs. Resolves when the range is done. */
function runRange(args: Args, from: number, to: number, onResult: (r: CaseResult) => void): Promise<void> {
  return new Promise((resolve) => {
    let next = from
    const launch = () => {
      if (next >= to) {
        resolve()
        return
      }
      const child = fork(import.meta.filename, ['--worker', '--seed', String(args.seed), '--from', String(next), '--to', String(to)], {execArgv: process.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc']})
      let current: number | undefined
      let started = Date.now()
      const watchdog = setInterval(() => {
        if (current !== undefined && Date.now() - started > CASE_LIMIT_MS * 3) {
          const index = current
          current = undefined
          child.kill('SIGKILL')
          onResult({index, seed: caseSeed(args.seed, index), target: targetOf(index), input: '(killed: see --case)', accepted: false, ms: Date.now() - started, findings: [{kind: 'hang', rule: 'killed', detail: `no answer within ${CASE_LIMIT_MS * 3} ms: the worker was killed`}]})
          next = index + 1
        }
      }, 500)
      child.on('message', (message: Message) => {
        if (message.type === 'start') {
          current = message.index
          started = Date.now()
        } else {
          current = undefined
          next = message.result.index + 1
          onResult(message.result)
        }
      })
      child.on('exit', (code) => {
        clearInterval(watchdog)
        if (current !== undefined) {
          // The worker died inside a case (out of memory, a crash of node itself): that case is a finding.
          const index = current
          onResult({index, seed: caseSeed(args.seed, index), target: targetOf(index), input: '(worker died: see --case)', accepted: false, ms: Date.now() - started, findings: [{kind: 'stack-trace', rule: `worker exit ${code ?? 'signal'}`, detail: 'the process running the case died'}]})
          next = index + 1
        }
        launch()
      })
    }
    launch()
  })
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (args.worker) return worker(args)
  if (args.one !== undefined) {
    const result = await runCase(args.one, caseSeed(args.seed, args.one))
    cleanupScratch()
    console.log(JSON.stringify(result, null, 2))
    process.exitCode = result.findings.length > 0 ? 1 : 0
    return
  }
  const summary = new Summary()
  const start = Date.now()
  const end = args.from + args.cases
  const chunk = Math.ceil(args.cases / args.workers)
  let done = 0
  const onResult = (r: CaseResult) => {
    summary.add(r)
    if (++done % 1000 === 0) process.stderr.write(`fuzz: ${done}/${args.cases} cases, ${summary.distinct.size} distinct findings, ${((Date.now() - start) / 1000).toFixed(0)} s\n`)
  }
  await Promise.all(Array.from({length: args.workers}, (_, w) => runRange(args, args.from + w * chunk, Math.min(end, args.from + (w + 1) * chunk), onResult)))
  const wall = (Date.now() - start) / 1000
  console.log(`virtlab fuzz: ${summary.total()} cases, seed ${args.seed}, cases ${args.from}..${end - 1}, ${args.workers} worker(s), ${wall.toFixed(1)} s wall; ${fieldCount()} lab fields visited round-robin`)
  console.log('')
  console.log(summary.table())
  console.log('')
  const findings = summary.findings()
  if (findings.length === 0) console.log('findings: none')
  else {
    console.log(`findings: ${findings.length} distinct (kind, target, rule); first case of each (reproduce with \`npm run fuzz -- --seed ${args.seed} --case N\`):`)
    for (const f of findings) {
      console.log(`- ${f.kind} ${f.target} ${f.rule} x${f.count}: case ${f.first.index} (seed ${f.first.seed}): ${f.first.input}\n    ${f.first.detail}`)
      for (const m of f.more) console.log(`    also case ${m.index}: ${m.input}`)
    }
  }
  if (args.json !== undefined) writeFileSync(args.json, JSON.stringify({seed: args.seed, cases: summary.total(), wallSeconds: wall, table: summary.table(), findings}, null, 2))
  process.exitCode = findings.length > 0 ? 1 : 0
}

await main()

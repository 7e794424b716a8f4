/**
 * The lab lock under real contention: several real processes (node running the real lock module
 * on the real filesystem) race for the same lab's lock, many trials, some starting from a stale
 * lock (a dead holder) so that they also race on the takeover. Exactly one holder every time.
 */
import {type ChildProcessWithoutNullStreams, spawn} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

const CHILDREN = 6
const TRIALS = 60

interface Child {
  proc: ChildProcessWithoutNullStreams
  lines: string[]
  waiters: ((line: string) => void)[]
}

function startChild(): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'lock-child.ts')], {stdio: ['pipe', 'pipe', 'pipe']})
  const child: Child = {proc, lines: [], waiters: []}
  let buffer = ''
  proc.stdout.on('data', (d: Buffer) => {
    buffer += d.toString()
    let nl: number
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      const waiter = child.waiters.shift()
      if (waiter) waiter(line)
      else child.lines.push(line)
    }
  })
  return child
}

function next(child: Child): Promise<string> {
  const line = child.lines.shift()
  if (line !== undefined) return Promise.resolve(line)
  return new Promise((resolve) => child.waiters.push(resolve))
}

let base = ''
const children: Child[] = []

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'virtlab-lockrace-'))
  for (let i = 0; i < CHILDREN; i++) children.push(startChild())
  for (const c of children) expect(await next(c)).toBe('ready')
}, 60_000)

afterAll(() => {
  for (const c of children) c.proc.stdin.write('exit\n')
  rmSync(base, {recursive: true, force: true})
})

describe('lab lock: real processes racing', () => {
  it(`${CHILDREN} processes x ${TRIALS} trials (half from a stale lock): exactly one holder each time, the others refused naming it`, async () => {
    const holdersPerTrial: number[] = []
    const refusals = new Map<string, number>()
    for (let t = 0; t < TRIALS; t++) {
      const stateDir = join(base, `s${t}`)
      const lab = `lab${t}`
      if (t % 2 === 1) {
        // A stale lock: its holder (a pid that cannot exist) is gone.
        mkdirSync(join(stateDir, lab), {recursive: true, mode: 0o700})
        writeFileSync(join(stateDir, lab, 'lock'), t % 4 === 1 ? '4194305\n' : JSON.stringify({pid: 4194305, host: readFileSync('/proc/sys/kernel/hostname', 'utf8').trim()}) + '\n')
      }
      for (const c of children) c.proc.stdin.write(`go ${stateDir} ${lab}\n`)
      const answers = await Promise.all(children.map((c) => next(c)))
      const holders = answers.filter((a) => a.startsWith('held '))
      holdersPerTrial.push(holders.length)
      for (const a of answers.filter((x) => x.startsWith('refused '))) {
        const code = a.split(' ')[2] ?? '?'
        refusals.set(code, (refusals.get(code) ?? 0) + 1)
      }
      for (const c of children) c.proc.stdin.write(`release ${lab}\n`)
      await Promise.all(children.map((c) => next(c)))
    }
    const bad = holdersPerTrial.map((n, t) => ({t, n})).filter((x) => x.n !== 1)
    console.log(`[lock-race] ${TRIALS} trials x ${CHILDREN} processes: holders per trial ${JSON.stringify(Object.fromEntries([0, 1, 2, 3, 4, 5, 6].map((n) => [n, holdersPerTrial.filter((h) => h === n).length])))}; refusals ${JSON.stringify(Object.fromEntries(refusals))}`)
    expect(bad).toEqual([])
    expect([...refusals.keys()]).toEqual(['LAB_LOCKED'])
  }, 120_000)
})

/**
 * Journals are not trusted: a journal whose runDir is "/" or another lab's, whose lab does not
 * match its directory, that is a directory or a symlink, or whose undo actions are malformed is
 * corrupt (with a reason and a code); `down` never removes a directory it names; `status` still
 * shows every other lab.
 */
import * as nodefs from 'node:fs'

import {afterEach, describe, expect, it} from 'vitest'

import type {Context} from '../../src/app/context.js'
import {downLab} from '../../src/app/down.js'
import {statusLabs} from '../../src/app/status.js'
import {upLab, type UpDeps, type UpResult} from '../../src/app/up.js'
import {journalPath, readJournal} from '../../src/apply/journal.js'
import {ASSUMED_FACTS} from '../../src/host/facts.js'
import type {LabModel} from '../../src/lab/model.js'
import {FakeHost} from '../helpers/fake-host.js'
import {demoPlan} from './demo-plan.js'

const hosts: FakeHost[] = []
function newHost(): FakeHost {
  const host = new FakeHost({systemOvs: true})
  hosts.push(host)
  return host
}
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup()
})

const deps: UpDeps = {
  gatherFacts: async () => ({...ASSUMED_FACTS, probed: true}),
  planLab: async (source, options) => {
    const plan = demoPlan(source, {driver: options.compile?.driver ?? 'libvirt'})
    const model = {name: source, file: `/labs/${source}.yaml`, params: {}} as unknown as LabModel
    return {model, artifacts: {} as never, plan}
  },
  runChecks: async () => [],
}
const up = (ctx: Context, lab: string) => upLab(ctx, {lab, maxWorkers: 2}, deps) as Promise<UpResult>

function rewrite(host: FakeHost, ctx: Context, lab: string, change: (j: Record<string, unknown>) => void): void {
  const file = host.fs.resolve(journalPath(ctx.target.stateDir, lab))
  const j = JSON.parse(nodefs.readFileSync(file, 'utf8')) as Record<string, unknown>
  change(j)
  nodefs.writeFileSync(file, JSON.stringify(j))
}

describe('journals are validated, not trusted', () => {
  it('runDir "/" , another lab\'s run dir, a path outside the run base, or a lab name that does not match: corrupt with a reason', async () => {
    const host = newHost()
    const ctx = host.context()
    await up(ctx, 'demo')
    await up(ctx, 'other')
    const cases: [string, (j: Record<string, unknown>) => void, RegExp][] = [
      ['runDir /', (j) => { j.runDir = '/' }, /runDir/],
      ['other lab run dir', (j) => { j.runDir = '/run/virtlab/other' }, /runDir/],
      ['dotdot', (j) => { j.runDir = '/run/virtlab/../../etc' }, /runDir/],
      ['lab mismatch', (j) => { j.lab = 'other' }, /lab/],
      ['bad action', (j) => { (j.entries as {undo: unknown[]}[])[0]!.undo = [{kind: 'exec', argv: 'rm -rf /'}] }, /entries/],
      ['recursive remove outside the run dir', (j) => { (j.entries as {undo: unknown[]}[])[0]!.undo = [{kind: 'remove', path: '/etc', recursive: true}] }, /remove/],
    ]
    const original = nodefs.readFileSync(host.fs.resolve(journalPath(ctx.target.stateDir, 'demo')), 'utf8')
    for (const [name, change, reason] of cases) {
      nodefs.writeFileSync(host.fs.resolve(journalPath(ctx.target.stateDir, 'demo')), original)
      rewrite(host, ctx, 'demo', change)
      const read = await readJournal(ctx.target.fs, ctx.target.stateDir, 'demo', {runBase: ctx.target.runBase})
      expect(read.state, name).toBe('corrupt')
      if (read.state === 'corrupt') {
        expect(read.reason, name).toMatch(reason)
        expect(read.code, name).toMatch(/^JOURNAL_[A-Z_]+$/)
      }
    }
    // down refuses it (naming why) and, forced, removes only the lab's own run directory.
    nodefs.writeFileSync(host.fs.resolve(journalPath(ctx.target.stateDir, 'demo')), original)
    rewrite(host, ctx, 'demo', (j) => { j.runDir = '/run/virtlab/other' })
    await expect(downLab(ctx, {lab: 'demo'})).rejects.toMatchObject({code: 'JOURNAL_CORRUPT', message: expect.stringMatching(/runDir/)})
    await downLab(ctx, {lab: 'demo', force: true})
    expect(nodefs.existsSync(host.fs.resolve('/run/virtlab/other'))).toBe(true)
    expect(nodefs.existsSync(host.fs.resolve('/run/virtlab/demo'))).toBe(false)
  })

  it('a journal that is a directory (or a symlink) does not crash status: the other labs are shown, the bad one says why', async () => {
    const host = newHost()
    const ctx = host.context()
    await up(ctx, 'demo')
    await up(ctx, 'other')
    const file = host.fs.resolve(journalPath(ctx.target.stateDir, 'demo'))
    nodefs.rmSync(file)
    nodefs.mkdirSync(file)
    const status = await statusLabs(ctx)
    const other = status.labs.find((l) => l.lab === 'other')
    expect(other?.journal).toBe('ok')
    expect(other?.steps.length).toBeGreaterThan(0)
    const demo = status.labs.find((l) => l.lab === 'demo')
    expect(demo?.journal).toBe('corrupt')
    expect(demo?.journalProblem).toMatchObject({code: 'JOURNAL_NOT_A_FILE', reason: expect.stringMatching(/directory/)})

    nodefs.rmSync(file, {recursive: true})
    nodefs.symlinkSync(host.fs.resolve(journalPath(ctx.target.stateDir, 'other')), file)
    const read = await readJournal(ctx.target.fs, ctx.target.stateDir, 'demo', {runBase: ctx.target.runBase})
    expect(read).toMatchObject({state: 'corrupt', code: 'JOURNAL_NOT_A_FILE'})
  })

  it('down --force of a lab whose journal is a directory: no raw EISDIR, the directory is left (virtlab did not make it) and named (fuzz case 10079)', async () => {
    const host = newHost()
    const ctx = host.context()
    await up(ctx, 'demo')
    const file = host.fs.resolve(journalPath(ctx.target.stateDir, 'demo'))
    nodefs.rmSync(file)
    nodefs.mkdirSync(file)
    nodefs.writeFileSync(`${file}/keep`, 'not virtlab\'s')
    const result = await downLab(ctx, {lab: 'demo', force: true})
    expect(result.labs[0]?.notes.join('\n')).toMatch(/is not a journal file .*left as it is/)
    expect(nodefs.readFileSync(`${file}/keep`, 'utf8')).toBe('not virtlab\'s')
  })
})

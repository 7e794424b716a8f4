/**
 * What `down` needs to restore must be in the journal before the step changes anything: a
 * virtlab killed (SIGKILL) while it writes nr_hugepages or chgrps /dev/kvm leaves a journal that
 * holds the previous nr_hugepages (per page size) and /dev/kvm's group and mode, and `down`
 * (plain or --force) puts them back from the journal alone, without the live process.
 */
import * as nodefs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {type Context, createLocalTarget} from '../../src/host/target.js'
import {downLab} from '../../src/app/down.js'
import {applyPlan} from '../../src/apply/executor.js'
import {JournalStore, journalPath} from '../../src/apply/journal.js'
import {type HostFs, RootedFs} from '../../src/host/fs.js'
import type {CommandRunner, RunOptions, RunResult} from '../../src/host/runner.js'
import type {Plan} from '../../src/plan/step.js'

const roots: string[] = []
afterEach(() => {
  for (const r of roots.splice(0)) nodefs.rmSync(r, {recursive: true, force: true})
})

const HP2M = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'
const HP1G = '/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages'

/** A host with /dev/kvm root:root 0600: stat answers from `kvm`, chgrp/chmod change it (or hang: the process is "killed" mid-step). */
class KvmRunner implements CommandRunner {
  kvm = {group: 'root', mode: '600'}
  calls: string[][] = []
  constructor(private readonly hang: (argv: readonly string[]) => boolean = () => false) {}
  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push([...argv])
    const ok = (stdout = ''): RunResult => ({argv, stdout, stderr: '', exitCode: 0})
    const [cmd, a, b] = argv
    if (cmd === 'stat' && b === '%G') return ok(`${this.kvm.group}\n`)
    if (cmd === 'stat' && b === '%a') return ok(`${this.kvm.mode}\n`)
    if (cmd === 'stat' && b === '%A') return ok(this.kvm.mode === '660' ? 'crw-rw----\n' : 'crw-------\n')
    if (cmd === 'chgrp' && a !== undefined) {
      this.kvm.group = a
      if (this.hang(argv)) await new Promise((resolve) => options.signal?.addEventListener('abort', resolve, {once: true}))
      return ok()
    }
    if (cmd === 'chmod' && a !== undefined) {
      this.kvm.mode = a === 'g+rw' ? '660' : a
      return ok()
    }
    return {argv, stdout: '', stderr: `${cmd}: not on this fake host`, exitCode: 127}
  }
  async which(program: string): Promise<string | undefined> {
    return `/usr/bin/${program}`
  }
}

function plan(): Plan {
  const dev = '/dev/kvm'
  return {
    lab: 'hp', driver: 'qemu', netns: undefined, runDir: '/run/virtlab/hp', degraded: [], notes: [],
    steps: [
      {id: 'hugepages', title: 'reserve 2M pages', phase: 'host', action: {kind: 'write', path: HP2M, value: '64'}, check: {kind: 'file-equals', path: HP2M, value: '64'}, undo: {kind: 'restore-file', path: HP2M}, dependsOn: []},
      {id: 'hugepages:1g', title: 'reserve 1G pages', phase: 'host', action: {kind: 'write', path: HP1G, value: '1'}, undo: {kind: 'restore-file', path: HP1G}, dependsOn: []},
      {
        id: 'kvm:group', title: 'chgrp kvm /dev/kvm', phase: 'host', action: {kind: 'exec', argv: ['chgrp', 'kvm', dev]},
        undo: {kind: 'restore-exec', read: ['stat', '-c', '%G', dev], whenPresent: ['chgrp', '{previous}', dev], whenAbsent: []}, dependsOn: [],
      },
      {
        id: 'kvm:mode', title: 'chmod g+rw /dev/kvm', phase: 'host', action: {kind: 'exec', argv: ['chmod', 'g+rw', dev]},
        undo: {kind: 'restore-exec', read: ['stat', '-c', '%a', dev], whenPresent: ['chmod', '{previous}', dev], whenAbsent: []}, dependsOn: ['kvm:group'],
      },
    ],
  }
}

function host(): {root: string; fs: RootedFs} {
  const root = nodefs.mkdtempSync(path.join(os.tmpdir(), 'virtlab-restore-'))
  roots.push(root)
  const fs = new RootedFs(root)
  for (const [file, value] of [[HP2M, '3\n'], [HP1G, '0\n']] as const) {
    nodefs.mkdirSync(path.dirname(fs.resolve(file)), {recursive: true})
    nodefs.writeFileSync(fs.resolve(file), value)
  }
  nodefs.mkdirSync(fs.resolve('/proc'), {recursive: true})
  return {root, fs}
}

function context(fs: HostFs, runner: CommandRunner): Context {
  return {
    target: createLocalTarget({runner, fs, stateDir: '/var/lib/virtlab', runBase: '/run/virtlab'}),
    operator: {fs, packageRoot: process.cwd(), progress: () => {}, env: {}},
  }
}

/** A filesystem on which the write of `path` takes effect and then never returns (the process dies there). */
function dyingAfterWrite(fs: RootedFs, file: string, died: () => void): HostFs {
  return new Proxy(fs, {
    get(target, prop, receiver) {
      if (prop === 'writeFile') {
        return async (p: string, content: string, options?: object) => {
          await target.writeFile(p, content, options)
          if (p === file) {
            died()
            await new Promise(() => {})
          }
        }
      }
      const value = Reflect.get(target, prop, receiver) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

describe('the journal holds the values down restores, before the step changes them', () => {
  it('killed while nr_hugepages (two sizes) is written and /dev/kvm is chgrp-ed: the journal already has the previous values; down --force restores them', async () => {
    const {fs} = host()
    const runner = new KvmRunner((argv) => argv[0] === 'chgrp' && argv[1] === 'kvm')
    let dead = 0
    const dying = dyingAfterWrite(fs, HP2M, () => dead++)
    const ctx = context(dying, runner)
    const journal = await JournalStore.open(fs, ctx.target.stateDir, {lab: 'hp', file: '/labs/hp.yaml', driver: 'qemu', netns: undefined, runDir: '/run/virtlab/hp', params: {}, degraded: []})
    const controller = new AbortController()
    void applyPlan(plan(), ctx, {journal, maxWorkers: 4, signal: controller.signal}).catch(() => {})
    // Wait until the process is "dead" in both steps: nr_hugepages written, /dev/kvm chgrp-ed.
    for (let i = 0; i < 100 && (dead === 0 || runner.kvm.group !== 'kvm' || nodefs.readFileSync(fs.resolve(HP1G), 'utf8').trim() !== '1'); i++) await new Promise((r) => setTimeout(r, 20))
    expect(nodefs.readFileSync(fs.resolve(HP2M), 'utf8').trim()).toBe('64')
    expect(runner.kvm.group).toBe('kvm')

    // What a SIGKILL leaves: the journal file as it is now.
    const saved = JSON.parse(nodefs.readFileSync(fs.resolve(journalPath(ctx.target.stateDir, 'hp')), 'utf8')) as {entries: {stepId: string; undo: unknown[]}[]}
    const undoOf = (id: string) => saved.entries.find((e) => e.stepId === id)?.undo
    expect(undoOf('hugepages')).toEqual([{kind: 'write', path: HP2M, value: '3'}])
    expect(undoOf('hugepages:1g')).toEqual([{kind: 'write', path: HP1G, value: '0'}])
    expect(undoOf('kvm:group')).toEqual([{kind: 'exec', argv: ['chgrp', 'root', '/dev/kvm']}])

    // A new process, without the dead one: down --force from the journal.
    const down = await downLab(context(fs, runner), {lab: 'hp', force: true})
    expect(down.labs[0]?.undone).toEqual(expect.arrayContaining(['hugepages', 'hugepages:1g', 'kvm:group']))
    expect(nodefs.readFileSync(fs.resolve(HP2M), 'utf8').trim()).toBe('3')
    expect(nodefs.readFileSync(fs.resolve(HP1G), 'utf8').trim()).toBe('0')
    expect(runner.kvm).toEqual({group: 'root', mode: '600'})
    expect(nodefs.existsSync(fs.resolve(journalPath(ctx.target.stateDir, 'hp')))).toBe(false)
    controller.abort()
  })

  it('a completed up journals /dev/kvm group and mode and nr_hugepages; plain down restores them', async () => {
    const {fs} = host()
    const runner = new KvmRunner()
    const ctx = context(fs, runner)
    const journal = await JournalStore.open(fs, ctx.target.stateDir, {lab: 'hp', file: '/labs/hp.yaml', driver: 'qemu', netns: undefined, runDir: '/run/virtlab/hp', params: {}, degraded: []})
    await applyPlan(plan(), ctx, {journal, maxWorkers: 4})
    expect(runner.kvm).toEqual({group: 'kvm', mode: '660'})
    const saved = JSON.parse(nodefs.readFileSync(fs.resolve(journalPath(ctx.target.stateDir, 'hp')), 'utf8')) as {entries: {stepId: string; undo: unknown[]}[]}
    expect(saved.entries.find((e) => e.stepId === 'kvm:mode')?.undo).toEqual([{kind: 'exec', argv: ['chmod', '600', '/dev/kvm']}])
    await downLab(context(fs, runner), {lab: 'hp'})
    expect(runner.kvm).toEqual({group: 'root', mode: '600'})
    expect(nodefs.readFileSync(fs.resolve(HP2M), 'utf8').trim()).toBe('3')
  })
})

import {mkdtempSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {finishUndo} from '../../src/apply/rollback.js'
import {createContext} from '../../src/app/context.js'
import {stopByPidfile} from '../../src/compile/steps.js'
import {createTokenRegistry} from '../../src/apply/tokens.js'
import {resolveTokens} from '../../src/plan/tokens.js'
import {ExecaRunner} from '../../src/host/runner.js'
import {RootedFs} from '../../src/host/fs.js'

const root = mkdtempSync(join(tmpdir(), 'virtlab-pidtoken-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))

describe('@{pidfile-pid}', () => {
  const fs = new RootedFs(root)
  const host = {fs, runner: new ExecaRunner()}
  const tokens = createTokenRegistry()
  mkdirSync(join(root, 'run'), {recursive: true})

  it('is the pid in the pidfile, or 0 when the file is missing or holds no pid', async () => {
    writeFileSync(join(root, 'run/q.pid'), '4242\n')
    expect(await resolveTokens('/proc/@{pidfile-pid:/run/q.pid}/exe', host, tokens)).toBe('/proc/4242/exe')
    expect(await resolveTokens('@{pidfile-pid:/run/missing.pid}', host, tokens)).toBe('0')
    writeFileSync(join(root, 'run/bad.pid'), 'x\n')
    expect(await resolveTokens('@{pidfile-pid:/run/bad.pid}', host, tokens)).toBe('0')
  })

  it('is frozen into the journaled undo while the daemon runs, so down waits on that process after it removed its pidfile', async () => {
    writeFileSync(join(root, 'run/d.pid'), '777\n')
    const undo = stopByPidfile('daemon', '/run/d.pid')
    if (undo.kind !== 'actions') throw new Error('expected actions')
    const ctx = createContext({root})
    const resolved = await finishUndo({ctx, signal: new AbortController().signal, timeoutMs: 1000, tokens: createTokenRegistry()}, undo.actions)
    const wait = resolved[1]
    expect(wait?.kind).toBe('wait')
    expect(JSON.stringify(wait)).toContain('/proc/777/exe')
    expect(JSON.stringify(wait)).not.toContain('@{pidfile-pid')
    // The pidfile check itself stays as written (pgrep -F reads it at undo time).
    expect(JSON.stringify(wait)).toContain('"pgrep","-F","/run/d.pid"')
  })
})

/**
 * Directories from the operator (--state-dir, VIRTLAB_STATE_DIR, VIRTLAB_RUN_DIR, VIRTLAB_ROOT)
 * are roots of host paths that reach argv and QEMU option strings. Found by the fuzzer:
 * VIRTLAB_RUN_DIR=/run/virtlab/../../etc planned `mkdir /run/virtlab/../../etc` (also fixed on
 * branch labsafe); "@", "+" and ":" break apply-time tokens (@{saved:<runDir>/...:key}); a run
 * base longer than 48 characters leaves no room for socket paths (107 bytes); VIRTLAB_ROOT was not
 * checked at all. (test/commands/state-dir.test.ts has the flag cases.)
 */
import {afterEach, describe, expect, it} from 'vitest'

import {createContext, MAX_RUN_BASE_LENGTH} from '../../src/app/context.js'

const saved = {...process.env}
afterEach(() => {
  for (const key of ['VIRTLAB_RUN_DIR', 'VIRTLAB_STATE_DIR', 'VIRTLAB_ROOT']) {
    if (saved[key] === undefined) delete process.env[key]
    else process.env[key] = saved[key]
  }
})

describe('operator directories', () => {
  it.each([
    ['VIRTLAB_RUN_DIR', '/run/virtlab/../../etc', 'is not an absolute, normalized directory other than /'],
    ['VIRTLAB_RUN_DIR', '/tmp/a,b=c', 'is not an absolute, normalized directory other than /'],
    ['VIRTLAB_RUN_DIR', '/srv/x@y+z', 'is not an absolute, normalized directory other than /'],
    ['VIRTLAB_STATE_DIR', '/srv/a:b', 'is not an absolute, normalized directory other than /'],
    ['VIRTLAB_RUN_DIR', `/${'r'.repeat(MAX_RUN_BASE_LENGTH)}`, `is longer than ${MAX_RUN_BASE_LENGTH} characters`],
    ['VIRTLAB_STATE_DIR', '/var/lib/virtlab\n', 'is not an absolute, normalized directory other than /'],
    ['VIRTLAB_ROOT', 'fixtures', 'is not an absolute, normalized directory other than /'],
    ['VIRTLAB_ROOT', '/srv/../etc', 'is not an absolute, normalized directory other than /'],
  ])('%s=%j is refused: %s', (variable, value, why) => {
    process.env[variable] = value
    let error: unknown
    try {
      createContext()
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({code: 'STATE_DIR_INVALID', exitCode: 2})
    expect((error as Error).message).toContain(why)
    expect((error as Error).message).toContain(variable)
  })


  it('ordinary directories are accepted', () => {
    process.env.VIRTLAB_RUN_DIR = '/tmp/virtlab-e2e-x1y2z3/run/'
    process.env.VIRTLAB_STATE_DIR = '/var/lib/virtlab'
    const ctx = createContext()
    expect(ctx.target.runBase).toBe('/tmp/virtlab-e2e-x1y2z3/run')
    expect(ctx.target.stateDir).toBe('/var/lib/virtlab')
  })
})

/**
 * Directories from the operator (--state-dir, VIRTLAB_STATE_DIR, VIRTLAB_RUN_DIR, VIRTLAB_ROOT)
 * are roots of host paths that reach argv and QEMU option strings: found by the fuzzer
 * (VIRTLAB_RUN_DIR=/run/virtlab/../../etc planned `mkdir /run/virtlab/../../etc`).
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
    ['VIRTLAB_RUN_DIR', '/run/virtlab/../../etc', 'has a "." or ".." segment'],
    ['VIRTLAB_RUN_DIR', 'relative/run', 'is not an absolute path'],
    ['VIRTLAB_RUN_DIR', '/tmp/a,b=c', 'contains a character that is not allowed in it'],
    ['VIRTLAB_RUN_DIR', '/srv/x@y+z', 'contains a character that is not allowed in it'],
    ['VIRTLAB_STATE_DIR', '/srv/a:b', 'contains a character that is not allowed in it'],
    ['VIRTLAB_RUN_DIR', `/${'r'.repeat(MAX_RUN_BASE_LENGTH)}`, `is longer than ${MAX_RUN_BASE_LENGTH} characters`],
    ['VIRTLAB_STATE_DIR', '/var/lib/virtlab\n', 'contains a character that is not allowed in it'],
    ['VIRTLAB_STATE_DIR', '/var/./lib', 'has a "." or ".." segment'],
    ['VIRTLAB_ROOT', 'fixtures', 'is not an absolute path'],
  ])('%s=%j is refused: %s', (variable, value, why) => {
    process.env[variable] = value
    let error: unknown
    try {
      createContext()
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({code: 'BAD_DIRECTORY', exitCode: 2})
    expect((error as Error).message).toContain(why)
    expect((error as Error).message).toContain(variable)
  })

  it('--state-dir is checked the same way', () => {
    expect(() => createContext({stateDir: 'state'})).toThrow(/--state-dir "state" is not an absolute path/)
  })

  it('ordinary directories are accepted', () => {
    process.env.VIRTLAB_RUN_DIR = '/tmp/virtlab-e2e-x1y2z3/run/'
    process.env.VIRTLAB_STATE_DIR = '/var/lib/virtlab'
    const ctx = createContext()
    expect(ctx.target.runBase).toBe('/tmp/virtlab-e2e-x1y2z3/run/')
    expect(ctx.target.stateDir).toBe('/var/lib/virtlab')
  })
})

/**
 * Issue 11 item 12: a relative or unsafe --state-dir / VIRTLAB_STATE_DIR / VIRTLAB_RUN_DIR used to
 * pass and fail late (or resolve against the working directory). It is refused when the context
 * is made, naming the flag or variable.
 */
import {afterEach, describe, expect, it} from 'vitest'

import {createContext} from '../../src/app/context.js'

const saved = {state: process.env.VIRTLAB_STATE_DIR, run: process.env.VIRTLAB_RUN_DIR}
afterEach(() => {
  for (const [key, value] of [['VIRTLAB_STATE_DIR', saved.state], ['VIRTLAB_RUN_DIR', saved.run]] as const) {
    if (value === undefined) delete process.env[key]
    else process.env[key] = value
  }
})

describe('state and run directories', () => {
  it.each(['state', './state', 'var/lib/virtlab', '/var/lib/../../etc', '/var/lib/virt lab', '/tmp/x\ny', '/'])('--state-dir %j is refused', (dir) => {
    expect(() => createContext({stateDir: dir})).toThrow(expect.objectContaining({code: 'STATE_DIR_INVALID', message: expect.stringContaining('--state-dir') as string}) as Error)
  })
  it('VIRTLAB_STATE_DIR and VIRTLAB_RUN_DIR are checked the same way', () => {
    process.env.VIRTLAB_STATE_DIR = 'relative'
    expect(() => createContext()).toThrow(expect.objectContaining({code: 'STATE_DIR_INVALID', message: expect.stringContaining('VIRTLAB_STATE_DIR') as string}) as Error)
    delete process.env.VIRTLAB_STATE_DIR
    process.env.VIRTLAB_RUN_DIR = 'run/virtlab'
    expect(() => createContext()).toThrow(expect.objectContaining({code: 'STATE_DIR_INVALID', message: expect.stringContaining('VIRTLAB_RUN_DIR') as string}) as Error)
  })
  it('absolute, normalized directories are fine', () => {
    delete process.env.VIRTLAB_STATE_DIR
    delete process.env.VIRTLAB_RUN_DIR
    expect(createContext({stateDir: '/tmp/virtlab-state'}).target.stateDir).toBe('/tmp/virtlab-state')
    expect(createContext().target.stateDir).toBe('/var/lib/virtlab')
  })
})

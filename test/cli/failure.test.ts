/** The pieces of src/cli: nearest-name suggestions, the classification of oclif's errors, the unknown-command split. */
import {describe, expect, it} from 'vitest'

import {describeFailure, failureJson, jsonRequested, nearest} from '../../src/cli/failure.js'
import {unknownCommandId} from '../../src/cli/main.js'
import {VirtlabError} from '../../src/errors.js'

describe('nearest', () => {
  it('suggests a close name and nothing for a far one', () => {
    expect(nearest('dry-rn', ['dry-run', 'driver', 'dir'])).toBe('dry-run')
    expect(nearest('alow-degraded', ['allow-degraded', 'set'])).toBe('allow-degraded')
    expect(nearest('bogus', ['set', 'dir', 'json'])).toBeUndefined()
    expect(nearest('x', [])).toBeUndefined()
  })
})

describe('describeFailure', () => {
  const context = {bin: 'virtlab', command: 'up', flags: ['dry-run', 'driver', 'json']}
  class NonExistentFlagsError extends Error {
    flags = ['--dry-rn']
    oclif = {exit: 2}
  }
  class RequiredArgsError extends Error {
    oclif = {exit: 2}
  }

  it('classifies oclif parse errors by class as usage errors (exit 2) with a hint', () => {
    expect(describeFailure(new NonExistentFlagsError('Nonexistent flag: --dry-rn\nSee more help with --help'), context)).toEqual({
      code: 'UNKNOWN_FLAG', message: 'Nonexistent flag: --dry-rn', hint: 'did you mean --dry-run? `virtlab up --help` lists its flags and arguments', exitCode: 2,
    })
    expect(describeFailure(new RequiredArgsError('Missing 1 required arg'), context)).toMatchObject({code: 'MISSING_ARGUMENT', exitCode: 2})
  })

  it('keeps a VirtlabError as it is, and calls anything else INTERNAL (exit 1)', () => {
    const e = new VirtlabError('STEP_FAILED', 'step x failed', {hint: 'look', command: {argv: ['ip'], exitCode: 2}})
    expect(failureJson(describeFailure(e, context))).toEqual({error: {code: 'STEP_FAILED', message: 'step x failed', hint: 'look', command: {argv: ['ip'], exitCode: 2}, exitCode: 1}})
    expect(describeFailure(new TypeError('boom'), context)).toMatchObject({code: 'INTERNAL', exitCode: 1})
  })

  it('sees --json only before --', () => {
    expect(jsonRequested(['up', 'x', '--json'])).toBe(true)
    expect(jsonRequested(['up', '--', '--json'])).toBe(false)
  })
})

describe('unknownCommandId', () => {
  const commands = new Set(['up', 'validate', 'image:build', 'image:show', 'help'])
  const topics = new Set(['image'])
  const config = {
    findCommand: (id: string) => (commands.has(id) ? {id} : undefined),
    findTopic: (id: string) => (topics.has(id) ? {name: id} : undefined),
  }

  it('cuts the id after the first word that is not a topic; known commands and topics pass through', () => {
    expect(unknownCommandId(config, ['vaildate', 'labs/x.yaml', '--json'])).toEqual({id: 'vaildate', rest: ['labs/x.yaml', '--json']})
    expect(unknownCommandId(config, ['image', 'buidl', 'x'])).toEqual({id: 'image:buidl', rest: ['x']})
    expect(unknownCommandId(config, ['validate', 'labs/x.yaml'])).toBeUndefined()
    expect(unknownCommandId(config, ['image', 'build'])).toBeUndefined()
    expect(unknownCommandId(config, ['image'])).toBeUndefined()
    expect(unknownCommandId(config, ['help', 'up'])).toBeUndefined()
    expect(unknownCommandId(config, ['--version'])).toBeUndefined()
    expect(unknownCommandId(config, [])).toBeUndefined()
  })
})

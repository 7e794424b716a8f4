/**
 * A Context for tests from the parts they used to pass flat: one fs serves both the target and
 * the operator unless operatorFs says otherwise (a fixture root for the target, '/' for labs).
 */
import * as path from 'node:path'

import type {HostFs} from '../../src/host/fs.js'
import type {ProgressSink} from '../../src/host/progress.js'
import type {CommandRunner} from '../../src/host/runner.js'
import {type Context, createLocalTarget, type SocketConnector} from '../../src/host/target.js'

export interface TestContextParts {
  runner: CommandRunner
  fs: HostFs
  operatorFs?: HostFs
  sockets?: SocketConnector
  stateDir?: string
  runBase?: string
  packageRoot?: string
  progress?: ProgressSink
  env?: Record<string, string | undefined>
}

export function testContext(parts: TestContextParts): Context {
  return {
    target: createLocalTarget({
      runner: parts.runner,
      fs: parts.fs,
      stateDir: parts.stateDir ?? '/var/lib/virtlab',
      runBase: parts.runBase ?? '/run/virtlab',
      ...(parts.sockets === undefined ? {} : {sockets: parts.sockets}),
    }),
    operator: {
      fs: parts.operatorFs ?? parts.fs,
      packageRoot: parts.packageRoot ?? path.resolve(import.meta.dirname, '../..'),
      progress: parts.progress ?? (() => {}),
      env: parts.env ?? {},
    },
  }
}

/** The same context with another fs (for both sides, as the flat context had one fs). */
export function withFs<C extends Context>(ctx: C, fs: HostFs): C {
  return {...ctx, target: {...ctx.target, fs}, operator: {...ctx.operator, fs}}
}

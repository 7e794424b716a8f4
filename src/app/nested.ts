/**
 * Use cases of the nested lab host (src/nested/): what `virtlab host create|start|stop` (and the
 * host topic's list and rm) call.
 */
import type {Context} from './context.js'
import {nestedEnv} from '../nested/env.js'
import {
  createNestedHost, type CreateOptions, type CreateResult, listNestedHosts, type NestedHostStatus, removeNestedHost,
  type RemoveResult, startNestedHost, type StartResult, stopNestedHost, type StopResult,
} from '../nested/lifecycle.js'

export type {CreateResult, NestedHostStatus, RemoveResult, StartResult, StopResult}

export async function createHost(ctx: Context, name: string, options: CreateOptions): Promise<CreateResult> {
  return createNestedHost(nestedEnv(ctx), name, options)
}

export async function startHost(ctx: Context, name: string, options: {bootTimeoutMs?: number} = {}): Promise<StartResult> {
  return startNestedHost(nestedEnv(ctx), name, options)
}

export async function stopHost(ctx: Context, name: string): Promise<StopResult> {
  return stopNestedHost(nestedEnv(ctx), name)
}

export async function listNested(ctx: Context): Promise<NestedHostStatus[]> {
  return listNestedHosts(nestedEnv(ctx))
}

export async function removeNested(ctx: Context, name: string, options: {purge?: boolean} = {}): Promise<RemoveResult> {
  return removeNestedHost(nestedEnv(ctx), name, options)
}

/**
 * Unpacking Debian packages into a cache entry: `dpkg -x` each .deb into a temp dir, let the
 * caller finish it, then rename it into place, so a cache entry is either complete or absent.
 */
import type {NestedEnv} from './env.js'
import {nestedDir} from './layout.js'

export async function buildAtomically<T>(
  env: NestedEnv,
  finalDir: string,
  label: string,
  fill: (tempDir: string) => Promise<T>,
): Promise<T> {
  const temp = `${nestedDir(env.stateDir)}/.tmp-${label}-${process.pid}`
  await env.fs.remove(temp, {recursive: true})
  await env.fs.mkdir(temp, {mode: 0o755})
  try {
    const result = await fill(temp)
    await env.fs.remove(finalDir, {recursive: true})
    await env.fs.rename(temp, finalDir)
    return result
  } finally {
    await env.fs.remove(temp, {recursive: true}).catch(() => {})
  }
}

export async function dpkgExtract(env: NestedEnv, deb: string, into: string): Promise<void> {
  await env.runner.run(['dpkg', '-x', env.fs.resolve(deb), env.fs.resolve(into)], {timeoutMs: 600_000})
}

export async function readJson<T>(env: NestedEnv, path: string): Promise<T | undefined> {
  const text = await env.fs.tryReadFile(path)
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as T
  } catch {
    return undefined
  }
}

/**
 * The real project's teardown for the shared nested host: whatever test created it, it is removed
 * at the end of the run (its process, run directory and host files; the build cache stays).
 */
import {rmSync} from 'node:fs'

import {readHostConfig, removeNestedHost} from '../../src/nested/lifecycle.js'
import {env, HOST, HOSTS_FILE} from './shared-host.js'

export async function setup(): Promise<void> {}

export async function teardown(): Promise<void> {
  const e = env()
  if ((await readHostConfig(e, HOST)) === undefined) return
  await removeNestedHost(e, HOST)
  rmSync(HOSTS_FILE, {force: true})
  process.stderr.write(`nested global-setup: removed nested host ${HOST}\n`)
}

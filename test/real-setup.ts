/**
 * Global setup of the `real` test project: libvirtd (and virtlogd) answer for every real test,
 * started here once when the host has none running, and stopped at the end only if started here.
 * Tests that call ensureLibvirtd themselves then find it running and start nothing.
 */
import {createContext} from '../src/app/context.js'
import {ensureLibvirtd, type StartedDaemon, stopStartedDaemons} from '../src/host/daemons.js'

let started: StartedDaemon[] = []

export async function setup(): Promise<void> {
  started = await ensureLibvirtd(createContext())
  if (started.length > 0) process.stderr.write(`real-setup: started ${started.map((d) => `${d.name} (pid ${d.pid})`).join(', ')}\n`)
}

export async function teardown(): Promise<void> {
  if (started.length === 0) return
  await stopStartedDaemons(createContext(), started)
  process.stderr.write('real-setup: stopped the daemons it started\n')
}

/**
 * A free 127.0.0.1 TCP port for the forwarded SSH port, read from /proc/net/tcp{,6} (sockets in
 * state LISTEN). QEMU binds it a moment later; if another process got there first QEMU fails to
 * set up the forwarding and the caller tries the next port.
 */
import type {HostFs} from '../host/fs.js'
import {sha256} from '../util/hash.js'

export const PORT_BASE = 22200
export const PORT_SPAN = 2000

/** Local ports in LISTEN state (st 0A) in /proc/net/tcp text. */
export function listeningPorts(text: string): Set<number> {
  const ports = new Set<number>()
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/)
    const local = fields[1]
    if (local === undefined || fields[3] !== '0A') continue
    const port = parseInt(local.split(':').pop() ?? '', 16)
    if (Number.isFinite(port)) ports.add(port)
  }
  return ports
}

/** Ports to try for a host, starting from one derived from its name. */
export async function candidatePorts(fs: HostFs, name: string, count = 8, avoid: readonly number[] = []): Promise<number[]> {
  const busy = new Set<number>(avoid)
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const port of listeningPorts((await fs.tryReadFile(file)) ?? '')) busy.add(port)
  }
  const start = parseInt(sha256(name).slice(0, 8), 16) % PORT_SPAN
  const out: number[] = []
  for (let i = 0; i < PORT_SPAN && out.length < count; i++) {
    const port = PORT_BASE + ((start + i) % PORT_SPAN)
    if (!busy.has(port)) out.push(port)
  }
  return out
}

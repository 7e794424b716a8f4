import {createSocket} from 'node:dgram'
import {createServer} from 'node:net'

import {describe, expect, it} from 'vitest'

import {freePort} from './free-port.js'

describe('freePort', () => {
  it('returns a port that can then be bound for TCP and UDP on 127.0.0.1', async () => {
    const port = await freePort({udp: true})
    expect(port).toBeGreaterThan(0)
    const tcp = createServer()
    await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(port, '127.0.0.1', resolve))
    const udp = createSocket('udp4')
    await new Promise<void>((resolve, reject) => udp.once('error', reject).bind(port, '127.0.0.1', resolve))
    // while they hold it, the next pick is another port
    expect(await freePort({udp: true})).not.toBe(port)
    await new Promise<void>((resolve) => udp.close(() => resolve()))
    await new Promise<void>((resolve) => tcp.close(() => resolve()))
  })
})

/**
 * A port on 127.0.0.1 that nothing listens on right now: bind port 0 (the kernel picks a free
 * one), read it, close. With `udp`, the same number must also be free for UDP (iperf3's UDP data
 * goes to the server's port number), else another one is picked. A small race remains (someone
 * may bind it between the close and the caller's bind); it is far smaller than a fixed port's.
 */
import {createSocket} from 'node:dgram'
import {createServer} from 'node:net'

function tcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port from listen(0)'))))
    })
  })
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4')
    socket.once('error', () => {
      socket.close()
      resolve(false)
    })
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)))
  })
}

export async function freePort(options: {udp?: boolean} = {}): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await tcpPort()
    if (!options.udp || await udpFree(port)) return port
  }
  throw new Error('no port free for both TCP and UDP on 127.0.0.1 after 20 tries')
}

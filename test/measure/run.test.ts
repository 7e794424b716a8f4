import {describe, expect, it} from 'vitest'

import type {TestModel} from '../../src/lab/model.js'
import type {Endpoint, EndpointRunResult, Handle, HandleStatus} from '../../src/measure/endpoint.js'
import {type MeasureProgress, measureTest} from '../../src/measure/run.js'
import {fixedClock, iperfFixture, measureFixture, scaledIperf} from './helpers.js'

type Responder = (argv: readonly string[]) => EndpointRunResult

/** An endpoint that answers commands from a responder and models a background server. */
class FakeEndpoint implements Endpoint {
  readonly ran: string[][] = []
  readonly started: string[][] = []
  servers: {stopped: boolean; status: HandleStatus}[] = []
  serverStatus: HandleStatus = {running: true}

  constructor(readonly name: string, readonly address: string, private readonly responder: Responder = () => ({exitCode: 0, stdout: '', stderr: ''})) {}

  resolve(argv: readonly string[]): string[] {
    return [`@${this.name}`, ...argv]
  }

  async run(argv: readonly string[]): Promise<EndpointRunResult> {
    this.ran.push([...argv])
    return this.responder(argv)
  }

  async start(argv: readonly string[]): Promise<Handle> {
    this.started.push([...argv])
    const server = {stopped: false, status: this.serverStatus}
    this.servers.push(server)
    return {
      argv: this.resolve(argv),
      status: async () => (server.stopped ? {running: false} : server.status),
      stop: async () => {
        server.stopped = true
      },
    }
  }
}

const TCP_TEST: TestModel = {name: 'host-to-vm1', tool: 'iperf3', client: 'host', server: 'vm1', protocol: 'tcp', direction: 'tx', duration: 2, warmup: 0, streams: 1, sizes: [], bitrate: undefined, trials: 3}
const PING = measureFixture('ping', 'busybox-loopback-50.txt')

function iperfOrPing(iperf: (argv: readonly string[], n: number) => string): Responder {
  let n = 0
  return (argv) => (argv[0] === 'ping' ? {exitCode: 0, stdout: PING, stderr: ''} : {exitCode: 0, stdout: iperf(argv, n++), stderr: ''})
}

const env = () => ({clock: fixedClock(), sleep: async () => {}})

describe('measureTest', () => {
  it('runs N trials against a server, computes stats, measures latency, records every command', async () => {
    const scales = [1, 0.98, 1.03]
    const client = new FakeEndpoint('host', '10.99.2.1', iperfOrPing((_a, n) => scaledIperf('tcp-tx', scales[n] ?? 1)))
    const server = new FakeEndpoint('vm1', '10.99.2.2')
    const events: MeasureProgress[] = []
    const m = await measureTest(TCP_TEST, client, server, {}, {...env(), progress: (e) => events.push(e)})

    expect(server.started).toEqual([['iperf3', '-s', '-p', '5201']])
    expect(server.servers[0]?.stopped).toBe(true)
    expect(client.ran.filter((a) => a[0] === 'iperf3')).toHaveLength(3)
    expect(client.ran[0]).toEqual(['iperf3', '-c', '10.99.2.2', '-p', '5201', '-J', '-t', '2', '-P', '1'])
    expect(client.ran.at(-1)).toEqual(['ping', '-c', '100', '-i', '0.01', '10.99.2.2'])

    expect(m.cases).toHaveLength(1)
    const c = m.cases[0]!
    expect(c.trials.map((t) => t.gbps)).toEqual([29.772913, 29.177455, 30.666100].map((v) => expect.closeTo(v, 5)))
    expect(c.throughput.median).toBeCloseTo(29.772913, 5)
    expect(c.noisy).toBe(false)
    expect(m.latency).toMatchObject({from: 'host', to: 'vm1', count: 50})
    expect(m.latency?.p99Ms).toBeCloseTo(0.09806, 8)

    // commands: server, 3 clients, ping; each trial points at its command; argv as the endpoint ran it
    expect(m.commands.map((x) => x.endpoint)).toEqual(['vm1', 'host', 'host', 'host', 'host'])
    expect(m.commands[0]?.argv).toEqual(['@vm1', 'iperf3', '-s', '-p', '5201'])
    expect(c.trials.map((t) => m.commands[t.command]?.argv[1])).toEqual(['iperf3', 'iperf3', 'iperf3'])
    expect(m.latency?.command).toBe(4)
    expect(m.startedAt).toBe('2026-11-22T10:00:00.000Z')

    const trialEvents = events.filter((e) => e.phase === 'throughput')
    expect(trialEvents.map((e) => e.title)).toEqual(['tcp-tx-default: trial 1/3', 'tcp-tx-default: trial 2/3', 'tcp-tx-default: trial 3/3'])
    const left = trialEvents.map((e) => e.secondsLeft ?? -1)
    expect(left[0]).toBeGreaterThan(left[1]!)
    expect(left[1]).toBeGreaterThan(left[2]!)
  })

  it('one case per size, options override the test (trials, duration, warm-up)', async () => {
    const udp: TestModel = {...TCP_TEST, protocol: 'udp', sizes: [64, 1472], bitrate: '500M'}
    const client = new FakeEndpoint('vm1', '10.99.2.2', iperfOrPing((argv) => iperfFixture(argv.includes('64') ? 'udp-64' : 'udp-1472')))
    const server = new FakeEndpoint('host', '10.99.2.1')
    const m = await measureTest(udp, client, server, {trials: 2, durationS: 5, warmupS: 1, latencyCount: 0}, env())
    expect(m.cases.map((c) => c.id)).toEqual(['udp-tx-64', 'udp-tx-1472'])
    expect(m.cases[0]?.pps?.median).toBeCloseTo((362156 - 158079) / 2.00086, 0)
    expect(m.cases[1]?.lossPct?.median).toBeCloseTo(6.181092, 5)
    expect(client.ran[0]).toEqual(['iperf3', '-c', '10.99.2.1', '-p', '5201', '-J', '-t', '5', '-O', '1', '-P', '1', '-u', '-b', '500M', '-l', '64'])
    expect(m.latency).toBeNull()
    expect(m.effective).toMatchObject({trials: 2, durationS: 5, warmupS: 1, sizes: [64, 1472]})
  })

  it('retries when the server is not listening yet (connection refused), then succeeds', async () => {
    const sleeps: number[] = []
    const client = new FakeEndpoint('host', '10.99.2.1', iperfOrPing((_a, n) => (n < 2 ? iperfFixture('error-refused') : iperfFixture('tcp-tx'))))
    const server = new FakeEndpoint('vm1', '10.99.2.2')
    const m = await measureTest({...TCP_TEST, trials: 1}, client, server, {latencyCount: 0}, {clock: fixedClock(), sleep: async (ms) => void sleeps.push(ms)})
    expect(m.cases[0]?.trials).toHaveLength(1)
    expect(sleeps).toEqual([500, 1000])
    expect(m.commands.filter((c) => c.argv.includes('-c'))).toHaveLength(3)
    expect(m.cases[0]?.trials[0]?.command).toBe(3)
  })

  it('gives up after the retries with the iperf3 error and its hint', async () => {
    const client = new FakeEndpoint('host', '10.99.2.1', iperfOrPing(() => iperfFixture('error-refused')))
    const server = new FakeEndpoint('vm1', '10.99.2.2')
    await expect(measureTest(TCP_TEST, client, server, {connectRetries: 1, latencyCount: 0}, env())).rejects.toMatchObject({code: 'IPERF3_ERROR', hint: expect.stringMatching(/No iperf3 server/)})
    expect(server.servers.every((s) => s.stopped)).toBe(true)
  })

  it('a server that could not listen is IPERF3_SERVER_FAILED', async () => {
    const client = new FakeEndpoint('host', '10.99.2.1', iperfOrPing(() => iperfFixture('tcp-tx')))
    const server = new FakeEndpoint('vm1', '10.99.2.2')
    server.serverStatus = {running: false, result: {exitCode: 1, stdout: '', stderr: 'iperf3: error - unable to start listener for connections: Address already in use\n'}}
    await expect(measureTest(TCP_TEST, client, server, {latencyCount: 0}, env())).rejects.toMatchObject({code: 'IPERF3_SERVER_FAILED'})
  })

  it('an empty client output is IPERF3_FAILED with stderr', async () => {
    const client = new FakeEndpoint('host', '10.99.2.1', () => ({exitCode: 127, stdout: '', stderr: 'ip: can\'t find iperf3\n'}))
    const server = new FakeEndpoint('vm1', '10.99.2.2')
    await expect(measureTest(TCP_TEST, client, server, {latencyCount: 0}, env())).rejects.toMatchObject({code: 'IPERF3_FAILED', command: {exitCode: 127}})
  })

  it('zero-loss: searches the UDP rate per size through iperf3 -b against a simulated link', async () => {
    const capacityBps = 180e6
    /** iperf3 UDP JSON for an offered rate: a link that forwards up to capacity and drops the rest. */
    const udpRun = (argv: readonly string[]): string => {
      const rate = Number(argv[argv.indexOf('-b') + 1])
      const size = Number(argv[argv.indexOf('-l') + 1])
      const seconds = Number(argv[argv.indexOf('-t') + 1])
      const offered = rate === 0 ? 400e6 : Math.min(rate, 400e6) // -b 0: unlimited; the sender tops out at 400 Mbit/s
      const packets = Math.round((offered * seconds) / (size * 8))
      const lost = offered > capacityBps ? Math.round(packets * (1 - capacityBps / offered)) : 0
      const data = JSON.parse(iperfFixture('udp-1472')) as {end: Record<string, Record<string, number>>}
      const sum = {seconds, bytes: packets * size, bits_per_second: offered, jitter_ms: 0.01, lost_packets: lost, packets, lost_percent: (lost / packets) * 100}
      data.end.sum = {...data.end.sum, ...sum}
      data.end.sum_sent = {...data.end.sum_sent, ...sum, lost_packets: 0, lost_percent: 0}
      data.end.sum_received = {...data.end.sum_received, ...sum, bytes: (packets - lost) * size, bits_per_second: ((packets - lost) * size * 8) / seconds}
      return JSON.stringify(data)
    }
    const client = new FakeEndpoint('host', '10.99.2.1', iperfOrPing((argv) => udpRun(argv)))
    const server = new FakeEndpoint('vm1', '10.99.2.2')
    const events: MeasureProgress[] = []
    const test: TestModel = {...TCP_TEST, protocol: 'udp', sizes: [64, 1472], trials: 1}
    const m = await measureTest(test, client, server, {zeroLoss: true, maxRateBps: 1e9, resolutionPct: 1, searchDurationS: 1, finalDurationS: 3, latencyCount: 0}, {...env(), progress: (e) => events.push(e)})
    expect(m.zeroLoss.map((z) => z.size)).toEqual([64, 1472])
    for (const z of m.zeroLoss) {
      expect(z.found).toBe(true)
      expect(z.rateGbps).toBeLessThanOrEqual(0.18)
      expect(z.rateGbps).toBeGreaterThan(0.18 / 1.01)
      expect(z.lossPct).toBe(0)
      expect(z.trials.at(-1)).toMatchObject({final: true, durationS: 3, pass: true})
    }
    expect(m.zeroLoss[0]?.frameBytes).toBe(110)
    expect(m.zeroLoss[0]?.pps).toBeGreaterThan(0.17e9 / (64 * 8))
    const searchArgv = client.ran.find((a) => a.includes('-b') && a[a.indexOf('-b') + 1] === '1000000000')
    expect(searchArgv).toEqual(['iperf3', '-c', '10.99.2.2', '-p', '5201', '-J', '-t', '1', '-P', '1', '-u', '-b', '1000000000', '-l', '64'])
    const zl = events.filter((e) => e.phase === 'zero-loss')
    expect(zl[0]?.title).toMatch(/^zero-loss 64 B: tried 1\.000 Gbit\/s -> loss 55\.000\d % \(fail\)$/) // 1 - 180/400, packet rounding
    expect(zl[0]?.rateBps).toBe(1e9)
  })
})

describe('formatRate', () => {
  it('is readable at every scale', async () => {
    const {formatRate} = await import('../../src/measure/run.js')
    expect(formatRate(1e9)).toBe('1.000 Gbit/s')
    expect(formatRate(15.625e6)).toBe('15.6 Mbit/s')
    expect(formatRate(820e3)).toBe('820 kbit/s')
  })
})

/**
 * Round-trip latency from ping: every per-packet "time=" line is a sample (busybox prints
 * "seq=N ttl=T time=X ms", iputils "icmp_seq=N ttl=T time=X ms"), the summary lines give what
 * was sent and received. Percentiles are computed from the samples, not from ping's min/avg/max.
 */
import {VirtlabError} from '../errors.js'
import {percentile} from './stats.js'

export interface PingSample {
  seq: number
  rttMs: number
}

export interface PingOutput {
  target: string | undefined
  samples: PingSample[]
  transmitted: number
  received: number
  lossPct: number
  /** Duplicate replies (busybox/iputils report "+N duplicates"). */
  duplicates: number
}

export interface LatencyStats {
  count: number
  transmitted: number
  received: number
  lossPct: number
  minMs: number
  meanMs: number
  maxMs: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
}

const REPLY = /\b(?:icmp_)?seq=(\d+)\b.*?\btime[=<]([0-9]+(?:\.[0-9]+)?)\s*(ms|us|µs|s)\b/
const TRANSMITTED = /(\d+) packets transmitted, (\d+) (?:packets )?received(?:, \+(\d+) duplicates)?/
const HEADER = /^PING\s+(\S+)/

function toMs(value: number, unit: string): number {
  if (unit === 's') return value * 1000
  if (unit === 'us' || unit === 'µs') return value / 1000
  return value
}

/** Parse ping output (busybox or iputils). */
export function parsePing(text: string): PingOutput {
  const samples: PingSample[] = []
  let target: string | undefined
  let transmitted: number | undefined
  let received: number | undefined
  let duplicates = 0
  const seen = new Set<number>()
  for (const line of text.split('\n')) {
    const header = HEADER.exec(line)
    if (header) target = header[1]
    const reply = REPLY.exec(line)
    if (reply && !/\(DUP!\)/.test(line)) {
      const seq = Number(reply[1])
      if (!seen.has(seq)) {
        seen.add(seq)
        samples.push({seq, rttMs: toMs(Number(reply[2]), reply[3] ?? 'ms')})
      }
    }
    const summary = TRANSMITTED.exec(line)
    if (summary) {
      transmitted = Number(summary[1])
      received = Number(summary[2])
      duplicates = summary[3] === undefined ? 0 : Number(summary[3])
    }
  }
  if (transmitted === undefined || received === undefined) {
    if (samples.length === 0) {
      throw new VirtlabError('PING_BAD_OUTPUT', 'ping printed neither replies nor a statistics line', {
        hint: 'Is ping installed on the endpoint (busybox ping or iputils)?',
      })
    }
    transmitted = samples.length
    received = samples.length
  }
  return {
    target,
    samples,
    transmitted,
    received,
    lossPct: transmitted > 0 ? ((transmitted - received) / transmitted) * 100 : 0,
    duplicates,
  }
}

/** p50/p90/p99 and min/mean/max of the samples. Throws LATENCY_NO_REPLIES when nothing came back. */
export function latencyStats(ping: PingOutput): LatencyStats {
  const rtts = ping.samples.map((s) => s.rttMs)
  if (rtts.length === 0) {
    throw new VirtlabError('LATENCY_NO_REPLIES', `no ping replies${ping.target ? ` from ${ping.target}` : ''} (${ping.transmitted} sent, 100 % lost)`, {
      hint: 'The path is down or ICMP is filtered: check addresses, links and that the peer is up.',
    })
  }
  return {
    count: rtts.length,
    transmitted: ping.transmitted,
    received: ping.received,
    lossPct: ping.lossPct,
    minMs: Math.min(...rtts),
    meanMs: rtts.reduce((a, b) => a + b, 0) / rtts.length,
    maxMs: Math.max(...rtts),
    p50Ms: percentile(rtts, 50),
    p90Ms: percentile(rtts, 90),
    p99Ms: percentile(rtts, 99),
  }
}

/** ping -c <count> -i <interval> <address>: argv only. busybox accepts -i 0.01 as root. */
export function pingArgv(address: string, count: number, intervalS = 0.01, program = 'ping'): string[] {
  if (address.startsWith('-') || address.length === 0) throw new VirtlabError('MEASURE_BAD_SPEC', `invalid ping address "${address}"`)
  if (!Number.isInteger(count) || count < 1 || count > 100_000) throw new VirtlabError('MEASURE_BAD_SPEC', `ping count must be 1..100000, got ${count}`)
  return [program, '-c', String(count), '-i', String(intervalS), address]
}

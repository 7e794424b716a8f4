import {describe, expect, it} from 'vitest'

import {latencyStats, parsePing, pingArgv} from '../../src/measure/latency.js'
import {measureFixture} from './helpers.js'

describe('ping latency', () => {
  it('parses recorded busybox ping output (50 samples on 127.0.0.1, -i 0.01)', () => {
    const ping = parsePing(measureFixture('ping', 'busybox-loopback-50.txt'))
    expect(ping.target).toBe('127.0.0.1')
    expect(ping.samples).toHaveLength(50)
    expect(ping.samples[0]).toEqual({seq: 0, rttMs: 0.059})
    expect(ping).toMatchObject({transmitted: 50, received: 50, lossPct: 0, duplicates: 0})
  })

  it('p50/p90/p99 from the samples (checked against an independent computation)', () => {
    const stats = latencyStats(parsePing(measureFixture('ping', 'busybox-loopback-50.txt')))
    expect(stats.count).toBe(50)
    expect(stats.minMs).toBe(0.059)
    expect(stats.maxMs).toBe(0.101)
    expect(stats.meanMs).toBeCloseTo(0.0756, 10)
    expect(stats.p50Ms).toBeCloseTo(0.0745, 10)
    expect(stats.p90Ms).toBeCloseTo(0.0816, 10)
    expect(stats.p99Ms).toBeCloseTo(0.09806, 10)
  })

  it('no replies: 100 % loss is LATENCY_NO_REPLIES', () => {
    const ping = parsePing(measureFixture('ping', 'busybox-unreachable.txt'))
    expect(ping).toMatchObject({transmitted: 3, received: 0, lossPct: 100})
    expect(() => latencyStats(ping)).toThrow(expect.objectContaining({code: 'LATENCY_NO_REPLIES'}))
  })

  it('also reads iputils lines, microsecond times, skips duplicates, and counts loss', () => {
    const text = [
      'PING 10.99.2.2 (10.99.2.2) 56(84) bytes of data.',
      '64 bytes from 10.99.2.2: icmp_seq=1 ttl=64 time=0.412 ms',
      '64 bytes from 10.99.2.2: icmp_seq=1 ttl=64 time=0.500 ms (DUP!)',
      '64 bytes from 10.99.2.2: icmp_seq=3 ttl=64 time=1.20 ms',
      '',
      '--- 10.99.2.2 ping statistics ---',
      '4 packets transmitted, 2 received, +1 duplicates, 50% packet loss, time 31ms',
    ].join('\n')
    const ping = parsePing(text)
    expect(ping.samples).toEqual([{seq: 1, rttMs: 0.412}, {seq: 3, rttMs: 1.2}])
    expect(ping).toMatchObject({transmitted: 4, received: 2, lossPct: 50, duplicates: 1})
    expect(parsePing('64 bytes from x: seq=0 ttl=64 time=250 us\n').samples[0]?.rttMs).toBeCloseTo(0.25, 12)
    expect(() => parsePing('ping: bad address')).toThrow(expect.objectContaining({code: 'PING_BAD_OUTPUT'}))
  })

  it('builds the ping argv (argv only, no shell)', () => {
    expect(pingArgv('10.99.2.2', 100)).toEqual(['ping', '-c', '100', '-i', '0.01', '10.99.2.2'])
    expect(() => pingArgv('-f', 1)).toThrow()
  })
})

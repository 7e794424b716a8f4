import {describe, expect, it} from 'vitest'

import {VirtlabError} from '../../src/errors.js'
import {frameBytesForUdpPayload, gbpsPerCore, iperf3ClientArgv, iperf3ServerArgv, parseIperf3} from '../../src/measure/iperf3.js'
import {iperfFixture} from './helpers.js'

describe('iperf3 argv', () => {
  it('builds a TCP client argv with JSON, duration, warm-up, streams and message size', () => {
    expect(iperf3ClientArgv({server: '10.99.2.2', protocol: 'tcp', direction: 'tx', durationS: 10, omitS: 2, streams: 4, size: 131072})).toEqual([
      'iperf3', '-c', '10.99.2.2', '-p', '5201', '-J', '-t', '10', '-O', '2', '-P', '4', '-l', '131072',
    ])
  })

  it('UDP without a rate is unlimited (-b 0), with datagram size; rx adds -R, both adds --bidir', () => {
    expect(iperf3ClientArgv({server: '10.0.0.1', port: 5300, protocol: 'udp', direction: 'rx', durationS: 5, omitS: 0, streams: 1, size: 64})).toEqual([
      'iperf3', '-c', '10.0.0.1', '-p', '5300', '-J', '-t', '5', '-P', '1', '-u', '-b', '0', '-l', '64', '-R',
    ])
    const bidir = iperf3ClientArgv({server: '10.0.0.1', protocol: 'udp', direction: 'both', durationS: 5, omitS: 1, streams: 2, size: 1472, bitrate: 2.5e9})
    expect(bidir).toContain('--bidir')
    expect(bidir).not.toContain('-R')
    expect(bidir.slice(bidir.indexOf('-b'), bidir.indexOf('-b') + 2)).toEqual(['-b', '2500000000'])
    expect(iperf3ClientArgv({server: 'h', protocol: 'tcp', direction: 'tx', durationS: 1, omitS: 0, streams: 1, bitrate: '10G'})).toEqual(['iperf3', '-c', 'h', '-p', '5201', '-J', '-t', '1', '-P', '1', '-b', '10G'])
  })

  it('refuses values that are not numbers or look like options', () => {
    expect(() => iperf3ClientArgv({server: '-x', protocol: 'tcp', direction: 'tx', durationS: 1, omitS: 0, streams: 1})).toThrow(VirtlabError)
    expect(() => iperf3ClientArgv({server: 'h', protocol: 'tcp', direction: 'tx', durationS: 0, omitS: 0, streams: 1})).toThrow(/duration/)
    expect(() => iperf3ClientArgv({server: 'h', protocol: 'udp', direction: 'tx', durationS: 1, omitS: 0, streams: 1, size: 70000})).toThrow(/datagram size/)
    expect(() => iperf3ClientArgv({server: 'h', protocol: 'udp', direction: 'tx', durationS: 1, omitS: 0, streams: 1, bitrate: '1; rm'})).toThrow(/rate/)
  })

  it('builds the server argv', () => {
    expect(iperf3ServerArgv({port: 5201})).toEqual(['iperf3', '-s', '-p', '5201'])
    expect(iperf3ServerArgv({port: 5202, oneOff: true, bind: '10.99.2.1'})).toEqual(['iperf3', '-s', '-p', '5202', '-1', '-B', '10.99.2.1'])
  })
})

describe('parseIperf3 on recorded iperf3 3.12 output', () => {
  it('TCP: end.sum_sent / sum_received, retransmits, CPU, per-interval rates', () => {
    const r = parseIperf3(iperfFixture('tcp-tx'))
    expect(r.protocol).toBe('tcp')
    expect(r.version).toBe('3.12')
    expect(r.forward.sentBps).toBeCloseTo(29794646455.101219, 3)
    expect(r.forward.receivedBps).toBeCloseTo(29772912931.068535, 3)
    expect(r.totalReceivedBps).toBe(r.forward.receivedBps)
    expect(r.forward.retransmits).toBe(0)
    expect(r.reverseFlow).toBeUndefined()
    expect(r.intervals).toHaveLength(2)
    expect(r.intervals[1]?.bitsPerSecond).toBeCloseTo(34508187767.076332, 3)
    expect(r.cpu?.hostPct).toBeCloseTo(27.009117592672432, 9)
    expect(r.cpu?.remotePct).toBeCloseTo(70.30456865481136, 9)
  })

  it('-R is reported as reverse; --bidir sums both flows', () => {
    expect(parseIperf3(iperfFixture('tcp-rx')).reverse).toBe(true)
    const bidir = parseIperf3(iperfFixture('tcp-bidir'))
    expect(bidir.bidir).toBe(true)
    expect(bidir.reverseFlow?.receivedBps).toBeCloseTo(9265328118.29952, 3)
    expect(bidir.totalReceivedBps).toBeCloseTo(8606242154.41394 + 9265328118.29952, 2)
  })

  it('drops the omitted (-O warm-up) intervals', () => {
    const r = parseIperf3(iperfFixture('tcp-p2-omit'))
    expect(r.omitS).toBe(1)
    expect(r.streams).toBe(2)
    expect(r.intervals).toHaveLength(3) // 4 recorded, the first omitted
    expect(r.intervals[0]?.start).toBeLessThan(0.01) // iperf3 restarts the clock after the omit period
  })

  it('UDP: loss, jitter, packets and received pps from end.sum / sum_sent / sum_received', () => {
    const r = parseIperf3(iperfFixture('udp-64'))
    expect(r.protocol).toBe('udp')
    expect(r.blockSize).toBe(64)
    expect(r.forward.lossPct).toBeCloseTo(43.64942179613205, 9)
    expect(r.forward.lostPackets).toBe(158079)
    expect(r.forward.packetsSent).toBe(362156)
    expect(r.forward.packetsReceived).toBe(362156 - 158079)
    expect(r.forward.receivedPps).toBeCloseTo((362156 - 158079) / 2.00086, 3)
    expect(r.forward.sentBps).toBeCloseTo(92674310.2300466, 3)
    expect(r.forward.receivedBps).toBeCloseTo(52038551.42288816, 3)
    expect(r.forward.jitterMs).toBeCloseTo(0.0012931057944325843, 12)
  })

  it('UDP --bidir: both flows with their own loss', () => {
    const r = parseIperf3(iperfFixture('udp-1472-bidir'))
    expect(r.forward.lostPackets).toBe(401)
    expect(r.reverseFlow?.lostPackets).toBe(541)
    expect(r.totalReceivedBps).toBeCloseTo(297507785.00954443 + 296677629.30935353, 2)
  })

  it('UDP without sum_received (older iperf3): the received rate is the offered rate minus the loss', () => {
    const data = JSON.parse(iperfFixture('udp-1472')) as {end: Record<string, unknown>}
    delete data.end.sum_sent
    delete data.end.sum_received
    const r = parseIperf3(JSON.stringify(data))
    expect(r.forward.receivedBps).toBeCloseTo(r.forward.sentBps * (1 - 6.181092159819073 / 100), 0)
  })

  it('{"error": ...} becomes IPERF3_ERROR with the message and a hint (iperf3 3.12 exits 0 here)', () => {
    let caught: unknown
    try {
      parseIperf3(iperfFixture('error-refused'), ['iperf3', '-c', '127.0.0.1'])
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(VirtlabError)
    const e = caught as VirtlabError
    expect(e.code).toBe('IPERF3_ERROR')
    expect(e.message).toBe('iperf3: unable to connect to server: Connection refused')
    expect(e.hint).toMatch(/No iperf3 server is listening/)
    expect(e.command?.argv).toEqual(['iperf3', '-c', '127.0.0.1'])
  })

  it('non-JSON output is IPERF3_BAD_OUTPUT', () => {
    expect(() => parseIperf3('iperf3: error - unable to connect')).toThrow(expect.objectContaining({code: 'IPERF3_BAD_OUTPUT'}))
    expect(() => parseIperf3('{"start": {}}')).toThrow(/no "end" section/)
  })

  it('CPU cost: Gbit/s per busy core across both ends', () => {
    const r = parseIperf3(iperfFixture('tcp-tx'))
    const perCore = gbpsPerCore(r.totalReceivedBps / 1e9, r.cpu)
    expect(perCore).toBeCloseTo(29.7729129310685 / ((27.0091175926724 + 70.3045686548114) / 100), 6)
    expect(gbpsPerCore(1, undefined)).toBeUndefined()
    expect(frameBytesForUdpPayload(64)).toBe(110)
    expect(frameBytesForUdpPayload(1472)).toBe(1518)
  })
})

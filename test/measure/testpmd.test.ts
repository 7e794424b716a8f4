import {describe, expect, it} from 'vitest'

import {parseTestpmdPortStats, testpmdRates} from '../../src/measure/testpmd.js'
import {testpmdFixture} from './helpers.js'

// The fixtures are written in testpmd's documented layout, not recorded (see test/fixtures/testpmd/README.md).
describe('testpmd show port stats all', () => {
  it('parses every port: counters, rates, and totals in Mpps', () => {
    const stats = parseTestpmdPortStats(testpmdFixture('show-port-stats-all.txt'))
    expect(stats.ports).toHaveLength(2)
    expect(stats.ports[0]).toEqual({
      port: 0, rxPackets: 612345678, rxMissed: 1024, rxBytes: 39190123392, rxErrors: 0, rxNombuf: 0,
      txPackets: 611234567, txErrors: 0, txBytes: 39119012288, rxPps: 4210345, txPps: 4208876, rxBps: 2155696640, txBps: 2154944512,
    })
    expect(stats.ports[1]).toMatchObject({port: 1, rxErrors: 3, rxNombuf: 17})
    expect(stats.rxMpps).toBeCloseTo((4210345 + 4208876) / 1e6, 9)
    expect(stats.txMpps).toBeCloseTo((4208876 + 4210345) / 1e6, 9)
  })

  it('reads the older layout without bps columns', () => {
    const stats = parseTestpmdPortStats(testpmdFixture('show-port-stats-old.txt'))
    expect(stats.ports[0]).toMatchObject({port: 0, rxPackets: 1, rxBytes: 50, rxPps: 0, rxBps: undefined})
  })

  it('rates from two snapshots', () => {
    const after = parseTestpmdPortStats(testpmdFixture('show-port-stats-all.txt'))
    const before = parseTestpmdPortStats(testpmdFixture('show-port-stats-all.txt').replace('RX-packets: 612345678', 'RX-packets: 512345678'))
    expect(testpmdRates(before, after, 10)[0]).toEqual({port: 0, rxPps: 1e7, txPps: 0})
  })

  it('output without a statistics block is TESTPMD_BAD_OUTPUT', () => {
    expect(() => parseTestpmdPortStats('testpmd> show port stats all\nInvalid port 3\n')).toThrow(expect.objectContaining({code: 'TESTPMD_BAD_OUTPUT'}))
  })
})

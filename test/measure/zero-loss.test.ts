import {describe, expect, it} from 'vitest'

import {type TrialFn, type ZeroLossTrialEvent, ppsFor, searchZeroLoss} from '../../src/measure/zero-loss.js'
import {rng} from '../helpers/rng.js'

interface LinkOptions {
  /** Per-trial capacity jitter, +- percent. */
  noisePct?: number
  /** Loss present at any rate (percent), e.g. a lossy wire. */
  floorLossPct?: number
  /** The traffic generator cannot offer more than this. */
  generatorMaxBps?: number
  /** Long trials (>= this many seconds) see this fraction of capacity only (buffers fill). */
  longTrial?: {seconds: number; capacityFactor: number}
  seed?: number
}

/**
 * A simulated link: a queue that forwards up to `capacity` bit/s and drops the excess, like a
 * kernel qdisc/NIC ring would; the trial reports offered, received and loss as iperf3 does.
 */
function simulatedLink(capacityBps: number, options: LinkOptions = {}): {trial: TrialFn; calls: {rate: number; seconds: number}[]} {
  const random = rng(options.seed ?? 1)
  const calls: {rate: number; seconds: number}[] = []
  const trial: TrialFn = async (rateBps, seconds) => {
    calls.push({rate: rateBps, seconds})
    const offered = Math.min(rateBps, options.generatorMaxBps ?? Infinity)
    let capacity = capacityBps * (1 + ((options.noisePct ?? 0) / 100) * (random() * 2 - 1))
    if (options.longTrial && seconds >= options.longTrial.seconds) capacity *= options.longTrial.capacityFactor
    const excess = offered > capacity ? ((offered - capacity) / offered) * 100 : 0
    const lossPct = Math.min(100, excess + (options.floorLossPct ?? 0))
    return {offeredBps: offered, receivedBps: offered * (1 - lossPct / 100), lossPct, receivedPps: ppsFor(offered * (1 - lossPct / 100), 64)}
  }
  return {trial, calls}
}

const G = 1e9

describe('zero-loss search on a simulated link', () => {
  it('finds the rate where loss starts, within the stated resolution (noise-free)', async () => {
    const capacity = 3.7 * G
    const link = simulatedLink(capacity)
    const result = await searchZeroLoss(link.trial, {maxRateBps: 10 * G, resolutionBps: 0.01 * G, searchDurationS: 2, finalDurationS: 10})
    expect(result.found).toBe(true)
    expect(result.rateBps).toBeLessThanOrEqual(capacity)
    expect(result.rateBps).toBeGreaterThan(capacity - 0.01 * G)
    expect(result.final?.final).toBe(true)
    expect(result.final?.durationS).toBe(10)
    expect(result.final?.lossPct).toBe(0)
    expect(result.atMaximum).toBe(false)
    expect(result.failedAboveBps).toBeGreaterThan(capacity)
    expect(result.failedAboveBps! - result.rateBps).toBeLessThanOrEqual(0.01 * G)
    // starts at the maximum, then bisects: log2(10 / 0.01) ~ 10 search trials, then one final trial
    expect(link.calls[0]).toEqual({rate: 10 * G, seconds: 2})
    expect(link.calls.filter((c) => c.seconds === 2).length).toBeLessThanOrEqual(12)
    expect(link.calls.filter((c) => c.seconds === 10)).toHaveLength(1)
  })

  it('with a relative resolution, stops when the interval is within that percentage of the found rate', async () => {
    const capacity = 52e6 // a 64-byte UDP path under TCG: tens of Mbit/s
    const result = await searchZeroLoss(simulatedLink(capacity).trial, {maxRateBps: 10 * G, resolutionBps: 1e5, resolutionPct: 2})
    expect(result.found).toBe(true)
    expect(result.rateBps).toBeLessThanOrEqual(capacity)
    expect(result.rateBps).toBeGreaterThan(capacity / 1.02)
  })

  it('finds the rate within resolution + noise on a noisy link (+-1 % capacity per trial)', async () => {
    const capacity = 2.4 * G
    for (const seed of [1, 2, 3, 4, 5]) {
      const result = await searchZeroLoss(simulatedLink(capacity, {noisePct: 1, seed}).trial, {maxRateBps: 10 * G, resolutionBps: 0.01 * G})
      expect(result.found).toBe(true)
      expect(result.rateBps).toBeLessThanOrEqual(capacity * 1.01)
      expect(result.rateBps).toBeGreaterThan(capacity * 0.99 - 0.01 * G)
      expect(result.final?.pass).toBe(true)
    }
  })

  it('honours a non-zero loss target (0.001 %) on a link with a 0.0005 % loss floor; 0 % finds nothing there', async () => {
    const capacity = 1.5 * G
    const lossy = () => simulatedLink(capacity, {floorLossPct: 0.0005})
    const pdr = await searchZeroLoss(lossy().trial, {maxRateBps: 10 * G, resolutionBps: 0.005 * G, lossTargetPct: 0.001})
    expect(pdr.found).toBe(true)
    expect(pdr.lossTargetPct).toBe(0.001)
    // above capacity the excess loss quickly dominates: (r - C) / r must stay under 0.0005 %
    expect(pdr.rateBps).toBeLessThanOrEqual(capacity * (1 + 0.000005 / 0.99))
    expect(pdr.rateBps).toBeGreaterThan(capacity - 0.005 * G)
    const ndr = await searchZeroLoss(lossy().trial, {maxRateBps: 10 * G, resolutionBps: 0.005 * G, lossTargetPct: 0})
    expect(ndr.found).toBe(false)
    expect(ndr.rateBps).toBe(0)
    expect(ndr.final).toBeUndefined()
  })

  it('reports atMaximum when the starting rate already passes', async () => {
    const link = simulatedLink(40 * G)
    const result = await searchZeroLoss(link.trial, {maxRateBps: 10 * G})
    expect(result).toMatchObject({found: true, atMaximum: true, rateBps: 10 * G})
    expect(link.calls).toEqual([{rate: 10 * G, seconds: 2}, {rate: 10 * G, seconds: 10}])
  })

  it('uses what the generator really offered (a generator slower than the path)', async () => {
    const result = await searchZeroLoss(simulatedLink(3 * G, {generatorMaxBps: 2 * G}).trial, {maxRateBps: 10 * G})
    expect(result.found).toBe(true)
    expect(result.final?.offeredBps).toBe(2 * G)
    expect(result.final?.rateBps).toBe(10 * G)
  })

  it('a dead link: nothing found, bounded number of trials', async () => {
    const dead: TrialFn = async (rate) => ({offeredBps: rate, receivedBps: 0, lossPct: 100})
    const result = await searchZeroLoss(dead, {maxRateBps: 10 * G, resolutionBps: 0.01 * G})
    expect(result.found).toBe(false)
    expect(result.trials.length).toBeLessThanOrEqual(14)
    expect(result.trials.every((t) => !t.pass && !t.final)).toBe(true)
  })

  it('a failed final trial lowers the bound and the search continues below it', async () => {
    const capacity = 4 * G
    const link = simulatedLink(capacity, {longTrial: {seconds: 10, capacityFactor: 0.9}})
    const result = await searchZeroLoss(link.trial, {maxRateBps: 10 * G, resolutionBps: 0.01 * G, searchDurationS: 2, finalDurationS: 10})
    expect(result.found).toBe(true)
    expect(result.rateBps).toBeLessThanOrEqual(capacity * 0.9)
    const finals = result.trials.filter((t) => t.final)
    expect(finals.length).toBeGreaterThanOrEqual(2)
    expect(finals[0]?.pass).toBe(false)
    expect(finals.at(-1)?.pass).toBe(true)
    expect(result.rateBps).toBeGreaterThan(capacity * 0.9 - 0.01 * G)
    // after the failed final, the search runs 10-second trials
    const afterFirstFinal = result.trials.slice(result.trials.indexOf(finals[0]!) + 1)
    expect(afterFirstFinal.every((t) => t.durationS === 10)).toBe(true)
  })

  it('reports each trial with the current interval (progress)', async () => {
    const events: ZeroLossTrialEvent[] = []
    await searchZeroLoss(simulatedLink(1 * G).trial, {maxRateBps: 8 * G, resolutionBps: 0.5 * G, onTrial: (e) => events.push(e)})
    // 8 fails, bisect 4, 2 (fail), 1 (pass), 1.5 (fail): [1, 1.5) is within 0.5 -> final at 1
    expect(events.map((e) => e.rateBps / G)).toEqual([8, 4, 2, 1, 1.5, 1])
    expect(events.map((e) => e.pass)).toEqual([false, false, false, true, false, true])
    expect(events.at(-1)?.final).toBe(true)
    expect(events[4]).toMatchObject({lowBps: 1 * G, highBps: 2 * G})
  })

  it('rejects nonsense bounds', async () => {
    const link = simulatedLink(G)
    await expect(searchZeroLoss(link.trial, {maxRateBps: 0})).rejects.toThrow(/positive maximum/)
    await expect(searchZeroLoss(link.trial, {maxRateBps: G, resolutionBps: 2 * G})).rejects.toThrow(/resolution/)
    await expect(searchZeroLoss(link.trial, {maxRateBps: G, lossTargetPct: 100})).rejects.toThrow(/loss target/)
  })
})

import {describe, expect, it} from 'vitest'

import {type PpsTrialFn, RFC2544_TRIAL_S, lossPctOf, searchNdrPdr} from '../../src/measure/ndr-pdr.js'

/** A link that forwards at most `capacity` pps; above it the excess is dropped (loss = (pps - capacity) / pps). */
function link(capacity: number, longCapacity = capacity, longFrom = Infinity): {trial: PpsTrialFn; calls: {pps: number; s: number}[]} {
  const calls: {pps: number; s: number}[] = []
  return {
    calls,
    trial: async (pps, s) => {
      calls.push({pps, s})
      const cap = s >= longFrom ? longCapacity : capacity
      const sent = Math.round(pps * s)
      return {sent, received: Math.min(sent, Math.floor(cap * s)), offeredPps: pps}
    },
  }
}

describe('NDR/PDR search in pps', () => {
  it('finds the known NDR and PDR thresholds within the stated width, short trials then a longer final', async () => {
    const capacity = 3_700_000
    const sim = link(capacity)
    const r = await searchNdrPdr(sim.trial, {maxPps: 14_880_952, widthPct: 0.5, pdrLossPct: 0.5, searchTrialS: 1, finalTrialS: 10})
    // NDR: no loss at or below capacity.
    expect(r.ndr.found).toBe(true)
    expect(r.ndr.pps).toBeLessThanOrEqual(capacity)
    expect(r.ndr.pps).toBeGreaterThan(capacity * (1 - 0.005))
    expect(r.ndr.widthPct).toBeLessThanOrEqual(0.5)
    expect(r.ndr.final).toMatchObject({durationS: 10, final: true, lost: 0})
    // PDR at 0.5 %: loss (pps - C) / pps <= 0.005  <=>  pps <= C / 0.995.
    const pdrThreshold = capacity / 0.995
    expect(r.pdr.found).toBe(true)
    expect(r.pdr.pps).toBeLessThanOrEqual(pdrThreshold)
    expect(r.pdr.pps).toBeGreaterThan(pdrThreshold * (1 - 0.005))
    expect(r.pdr.final?.lossPct).toBeLessThanOrEqual(0.5)
    expect(r.pdr.pps).toBeGreaterThan(r.ndr.pps)
    // Short search trials, one long trial per target (both passed).
    expect(sim.calls.filter((c) => c.s === 10)).toHaveLength(2)
    expect(sim.calls.filter((c) => c.s === 1).length).toBeGreaterThan(5)
    expect(r.trials[0]).toMatchObject({pps: 14_880_952, target: 'pdr', final: false})
  })

  it('reuses the PDR trials for NDR (MLRsearch): fewer trials than two separate searches', async () => {
    const r = await searchNdrPdr(link(1_000_000).trial, {maxPps: 10_000_000, widthPct: 0.5})
    const pdrTrials = r.trials.filter((t) => t.target === 'pdr').length
    const ndrTrials = r.trials.filter((t) => t.target === 'ndr').length
    // The PDR search already bracketed the NDR (its lossy trials are NDR failures, its clean ones NDR passes).
    expect(ndrTrials).toBeLessThan(pdrTrials / 2)
    expect(r.ndr.pps).toBeLessThanOrEqual(1_000_000)
    expect(r.ndr.pps).toBeGreaterThan(995_000)
  })

  it('an absolute width in pps', async () => {
    const r = await searchNdrPdr(link(50_000).trial, {maxPps: 1_000_000, widthPct: 1e-6, widthPps: 100})
    expect(r.ndr.pps).toBeLessThanOrEqual(50_000)
    expect(50_000 - r.ndr.pps).toBeLessThan(100)
    // The absolute width stops the bisection well before the relative one (1e-6 % of 50 kpps = 0.0005 pps) would.
    expect(r.ndr.upperPps! - r.ndr.pps).toBeGreaterThan(1)
  })

  it('a failed final trial lowers the bound and the search continues with long trials', async () => {
    // Short trials see 2 Mpps, trials of 10 s and more only 1.5 Mpps (buffers fill).
    const sim = link(2_000_000, 1_500_000, 10)
    const r = await searchNdrPdr(sim.trial, {maxPps: 8_000_000, widthPct: 0.5, searchTrialS: 1, finalTrialS: 10})
    expect(r.ndr.found).toBe(true)
    expect(r.ndr.pps).toBeLessThanOrEqual(1_500_000)
    expect(r.ndr.pps).toBeGreaterThan(1_500_000 * 0.995)
    expect(r.trials.some((t) => t.final && t.lost > 0)).toBe(true)
  })

  it('--rfc2544: every trial lasts 60 s', async () => {
    const sim = link(100_000)
    const r = await searchNdrPdr(sim.trial, {maxPps: 1_000_000, widthPct: 2, rfc2544: true, searchTrialS: 1, finalTrialS: 5})
    expect(r.rfc2544).toBe(true)
    expect(new Set(sim.calls.map((c) => c.s))).toEqual(new Set([RFC2544_TRIAL_S]))
    expect(r.ndr.pps).toBeLessThanOrEqual(100_000)
    expect(r.ndr.pps).toBeGreaterThan(98_000)
  })

  it('the maximum passing is reported as such; nothing passing is not found', async () => {
    const fast = await searchNdrPdr(link(10_000_000).trial, {maxPps: 1_000_000})
    expect(fast.ndr).toMatchObject({found: true, pps: 1_000_000, atMaximum: true, upperPps: undefined})
    const dead = await searchNdrPdr(async (pps, s) => ({sent: pps * s, received: 0}), {maxPps: 1_000_000, minPps: 1000})
    expect(dead.ndr).toMatchObject({found: false, pps: 0})
    expect(dead.pdr.found).toBe(false)
    expect(dead.trials.every((t) => t.pps >= 1000)).toBe(true)
  })

  it('loss from counters; bad options are MEASURE_BAD_SPEC', async () => {
    expect(lossPctOf({sent: 1000, received: 995})).toBeCloseTo(0.5, 12)
    expect(lossPctOf({sent: 0, received: 0})).toBe(100)
    await expect(searchNdrPdr(link(1).trial, {maxPps: 0})).rejects.toMatchObject({code: 'MEASURE_BAD_SPEC'})
    await expect(searchNdrPdr(link(1).trial, {maxPps: 100, searchTrialS: 10, finalTrialS: 1})).rejects.toMatchObject({code: 'MEASURE_BAD_SPEC'})
    await expect(searchNdrPdr(link(1).trial, {maxPps: 100, pdrLossPct: 0})).rejects.toMatchObject({code: 'MEASURE_BAD_SPEC'})
  })
})

import {describe, expect, it} from 'vitest'

import {isNoisy, median, percentile, summarize} from '../../src/measure/stats.js'

describe('stats', () => {
  it('summarizes trials: median, min, max, mean, sample stddev, CV', () => {
    const s = summarize([9.0, 10.0, 11.0])
    expect(s).toMatchObject({n: 3, median: 10, min: 9, max: 11, mean: 10})
    expect(s.stddev).toBeCloseTo(1, 12)
    expect(s.cvPct).toBeCloseTo(10, 10)
    expect(summarize([4.2]).stddev).toBe(0)
    expect(median([3, 1, 2, 10])).toBe(2.5)
  })

  it('linear-interpolation percentiles', () => {
    const values = Array.from({length: 101}, (_, i) => 100 - i) // 0..100 unsorted
    expect(percentile(values, 50)).toBe(50)
    expect(percentile(values, 99)).toBe(99)
    expect(percentile([1, 2], 90)).toBeCloseTo(1.9, 12)
    expect(() => percentile([], 50)).toThrow()
    expect(() => percentile([1], 101)).toThrow()
  })

  it('flags noisy results above the CV threshold (default 5 %)', () => {
    expect(isNoisy(summarize([9, 10, 11]))).toBe(true) // 10 %
    expect(isNoisy(summarize([9.9, 10, 10.1]))).toBe(false) // 1 %
    expect(isNoisy(summarize([9, 10, 11]), 15)).toBe(false)
    expect(isNoisy(summarize([5]))).toBe(false)
  })
})

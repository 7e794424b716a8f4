/**
 * The short form of `npm run soak` (bench/soak.ts) in the real project: a few SIGINT/SIGTERM
 * interrupts during up/test/down, SIGKILLs during up, 10 up/test/down cycles with no resource
 * growth, the concurrency cases and the dying parts. Fails on any leak, crash or unclear error.
 */
import {describe, expect, it} from 'vitest'

import {parseArgs, soak} from '../../bench/soak.js'

describe('soak (short form)', () => {
  it('interrupts, kills, cycles, concurrency and dying parts leave the host as it was', async () => {
    const {text, failures} = await soak(parseArgs(['--short']))
    console.log(text)
    expect(failures, text).toBe(0)
    expect(text).toMatch(/### cycles \(10\)/)
    // No growth of any counted resource across the cycles.
    const growth = [...text.matchAll(/^\| ([^|]+?)\s+\| [^|]+\| [^|]+\| [^|]+\| (-?\d+)\s+\|$/gm)].map((m) => [m[1], Number(m[2])] as const)
    expect(growth.length).toBeGreaterThan(10)
    expect(growth.filter(([, g]) => g > 0), JSON.stringify(growth)).toEqual([])
  }, 3_600_000)
})

import {describe, expect, it} from 'vitest'

import type {CheckResult} from '../../src/doctor/index.js'
import {colorEnabled, painter} from '../../src/ui/color.js'
import {renderChecks, renderSummary} from '../../src/ui/doctor.js'

const checks: CheckResult[] = [
  {id: 'root', title: 'root privileges', status: 'pass', detail: 'uid 0'},
  {id: 'kvm', title: 'KVM acceleration', status: 'warn', detail: 'slower than TCG', fix: 'use accel: tcg'},
  {id: 'vhost-net', title: '/dev/vhost-net', status: 'fail', detail: 'missing', fix: 'modprobe vhost_net'},
]

describe('colour decision', () => {
  it('colours a terminal only; NO_COLOR and TERM=dumb turn it off, FORCE_COLOR on', () => {
    expect(colorEnabled({isTTY: true}, {})).toBe(true)
    expect(colorEnabled({isTTY: false}, {})).toBe(false)
    expect(colorEnabled({}, {})).toBe(false)
    expect(colorEnabled({isTTY: true}, {NO_COLOR: '1'})).toBe(false)
    expect(colorEnabled({isTTY: true}, {NO_COLOR: ''})).toBe(true)
    expect(colorEnabled({isTTY: true}, {TERM: 'dumb'})).toBe(false)
    expect(colorEnabled({isTTY: false}, {FORCE_COLOR: '1'})).toBe(true)
    expect(colorEnabled({isTTY: false}, {FORCE_COLOR: '0'})).toBe(false)
  })
})

describe('doctor rendering', () => {
  it('plain: PASS/WARN/FAIL words, the fix under a non-passing check, the summary', () => {
    expect(renderChecks(checks, painter(false))).toEqual([
      'PASS  root privileges: uid 0',
      'WARN  KVM acceleration: slower than TCG',
      '      fix: use accel: tcg',
      'FAIL  /dev/vhost-net: missing',
      '      fix: modprobe vhost_net',
    ])
    expect(renderSummary({pass: 1, warn: 1, fail: 1}, painter(false))).toBe('1 pass, 1 warn, 1 fail')
  })

  it('colour: green PASS, yellow WARN, red FAIL; the summary colours only non-zero counts', () => {
    const lines = renderChecks(checks, painter(true))
    expect(lines[0]).toBe('\u001b[32mPASS\u001b[39m  root privileges: uid 0')
    expect(lines[1]).toBe('\u001b[33mWARN\u001b[39m  KVM acceleration: slower than TCG')
    expect(lines[3]).toBe('\u001b[31mFAIL\u001b[39m  /dev/vhost-net: missing')
    expect(renderSummary({pass: 3, warn: 0, fail: 2}, painter(true))).toBe('\u001b[32m3 pass\u001b[39m, 0 warn, \u001b[31m2 fail\u001b[39m')
  })
})

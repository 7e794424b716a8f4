/**
 * Results recorded on this machine by `virtlab test` against a real lab (a copy of the
 * virtio-qemu lab named vlmeas, driver qemu, TCG guest built by `virtlab image build`, reached
 * through its QEMU guest agent socket): the schema accepts them and every report renders them.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {XMLParser} from 'fast-xml-parser'
import {describe, expect, it} from 'vitest'

import {assertResult} from '../../src/measure/result.js'
import {allRows} from '../../src/report/rows.js'
import {renderJunit} from '../../src/report/junit.js'
import {renderSvg} from '../../src/report/svg.js'
import {evaluate} from '../../src/report/thresholds.js'

const load = (name: string) => assertResult(JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8')), name)

describe('recorded results from a real lab', () => {
  it('follow the schema and carry the real provenance and a verified virtio-qemu datapath', () => {
    const r = load('recorded-virtio-qemu.json')
    expect(r.lab).toMatchObject({name: 'vlmeas', architecture: 'virtio-qemu', driver: 'qemu'})
    expect(r.datapath.verified).toBe(true)
    expect(r.datapath.evidence.join('\n')).toMatch(/holds \/dev\/net\/tun[\s\S]*holds no \/dev\/vhost-net/)
    expect(r.provenance.accel).toBe('tcg')
    expect(r.provenance.versions).toMatchObject({qemu: '7.2.22', iperf3: '3.12'})
    expect(r.provenance.commands[0]?.argv).toEqual(['/usr/bin/iperf3', '-s', '-p', '5201'])
    expect(r.provenance.commands.slice(1).every((c) => c.argv.slice(0, 4).join(' ') === 'ip netns exec vl-vlmeas')).toBe(true)
    expect(r.cases[0]?.trials).toHaveLength(2)
    expect(r.latency?.count).toBe(50)
    const zl = load('recorded-virtio-qemu-zero-loss.json')
    expect(zl.zeroLoss[0]).toMatchObject({size: 1472, found: true, frameBytes: 1518})
    expect(zl.zeroLoss[0]?.trials.at(-1)).toMatchObject({final: true, pass: true, lossPct: 0})
  })

  it('render as SVG (one bar per case) and JUnit', () => {
    const rows = allRows([load('recorded-virtio-qemu.json'), load('recorded-virtio-qemu-zero-loss.json')])
    const svg = new XMLParser({ignoreAttributes: false, attributeNamePrefix: ''}).parse(renderSvg(rows)) as {svg: unknown}
    expect(JSON.stringify(svg).match(/"class":"bar( noisy| degraded)*"/g)).toHaveLength(rows.length)
    const junit = renderJunit(evaluate(rows, {minGbps: 0.1, allowDegraded: true}))
    expect(junit).toContain('failures="1"') // the zero-loss rate (~0.015 Gbit/s) is under 0.1
  })
})

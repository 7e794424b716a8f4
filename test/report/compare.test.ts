import * as nodefs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {compareResults, reportResults} from '../../src/app/report.js'
import {RootedFs} from '../../src/host/fs.js'
import {ARCHITECTURES, compareArchitectures, compareTable} from '../../src/report/compare.js'
import {renderMarkdown} from '../../src/report/table.js'
import {DEGRADED, vhostNetDegraded, vhostUser, virtioQemuUdp, withZeroLoss} from './samples.js'

describe('compare: architectures side by side', () => {
  it('one row per architecture, measured columns from results, qualitative columns from the table', async () => {
    const rows = compareArchitectures([vhostNetDegraded(), vhostUser(), await withZeroLoss(virtioQemuUdp(), 0.08e9)])
    expect(rows.map((r) => r.facts.name)).toEqual(['virtio-qemu', 'vhost-net', 'vhost-user', 'sriov', 'vdpa'])
    const [qemu, vhostNet, vhostUserRow, sriov, vdpa] = rows
    expect(vhostNet?.throughput?.gbps).toBeCloseTo(4.168208, 5)
    expect(vhostNet?.labels).toEqual([DEGRADED, 'datapath unverified: QEMU pid 4242 does not hold /dev/vhost-net: the userspace virtio backend is moving the frames', 'TCG (emulated CPU: not representative)'])
    expect(vhostUserRow?.throughput?.what).toBe('tcp-tx-default')
    expect(vhostUserRow?.latency?.p50Ms).toBeCloseTo(0.0745, 8)
    expect(vhostUserRow?.gbpsPerCore).toBeGreaterThan(0)
    // the highest packet rate among UDP cases and zero-loss results
    expect(qemu?.pps?.what).toBe('zero-loss 64 B')
    expect(qemu?.pps?.pps).toBeLessThanOrEqual(0.08e9 / 512) // within the search resolution (0.01 Gbit/s) under capacity
    expect(qemu?.pps?.pps).toBeGreaterThan(0.07e9 / 512)
    expect(qemu?.throughput?.what).toBe('udp-tx-1472') // no TCP case: the fastest of any
    expect(sriov).toMatchObject({measured: false, throughput: null, pps: null})
    expect(vdpa?.measured).toBe(false)

    const table = compareTable(rows)
    expect(table.headers).toEqual(['Architecture', 'Data plane', 'Throughput', 'Packet rate', 'RTT p50 / p99 ms', 'Gbit/s per core', 'Hugepages', 'Vendor driver in guest', 'Live migration', 'Hardware needed', 'Measured on', 'Notes'])
    const sriovCells = table.rows[3]!
    expect(sriovCells[2]).toBe('not measured')
    expect(sriovCells[7]).toMatch(/^yes/) // vendor driver in guest
    expect(sriovCells[8]).toMatch(/^no/) // not live-migratable
    expect(sriovCells[9]).toMatch(/SR-IOV NIC \+ IOMMU/)
    expect(table.rows[2]?.[6]).toMatch(/^yes/) // vhost-user needs hugepages
    expect(table.rows[1]?.[11]).toContain(DEGRADED)
    // the degraded number is labelled in its own cell too; a clean one is not
    expect(vhostNet?.throughput?.degraded).toBe(true)
    expect(table.rows[1]?.[2]).toMatch(/ Gbit\/s \(tcp-tx-default\) \[degraded\]$/)
    expect(table.rows[2]?.[2]).not.toContain('degraded')
    const md = renderMarkdown(table)
    expect(md.split('\n').filter((l) => l.startsWith('| '))).toHaveLength(2 + ARCHITECTURES.length) // header, alignment row, one per architecture
  })
})

describe('reportResults / compareResults on files', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const d of dirs.splice(0)) nodefs.rmSync(d, {recursive: true, force: true})
  })
  function write(docs: Record<string, unknown>): string {
    const dir = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vl-report-'))
    dirs.push(dir)
    for (const [name, doc] of Object.entries(docs)) nodefs.writeFileSync(path.join(dir, name), typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2))
    return dir
  }
  const fs = new RootedFs('/')

  it('reads a directory, evaluates thresholds, writes --out, reports pass/fail per case', async () => {
    const dir = write({'vhost-net-host-to-vm1.json': vhostNetDegraded(), 'vhost-user-host-to-vm1.json': vhostUser(), 'notes.txt': 'ignored'})
    const out = path.join(dir, 'junit.xml')
    const r = await reportResults(fs, {files: [dir], format: 'junit', out, minGbps: 1})
    expect(r.files.map((f) => path.basename(f))).toEqual(['vhost-net-host-to-vm1.json', 'vhost-user-host-to-vm1.json'])
    expect(r.pass).toBe(false)
    // the degraded, unverified vhost-net result fails the gate; the slow vhost-user one fails --min-gbps
    expect(r.cases.map((c) => [c.key, c.pass])).toEqual([['vhost-net/host-to-vm1/tcp-tx-default', false], ['vhost-user/host-to-vm1/tcp-tx-default', false]])
    expect(r.cases[0]?.failures[0]).toMatch(/^the result is degraded/)
    expect(r.cases[0]?.labels).toContain(DEGRADED)
    expect(r.written).toEqual([out])
    expect(nodefs.readFileSync(out, 'utf8')).toBe(r.text)
    const allowed = await reportResults(fs, {files: [dir], format: 'junit', minGbps: 1, allowDegraded: true})
    expect(allowed.cases.map((c) => c.pass)).toEqual([true, false])
    const md = await reportResults(fs, {files: [path.join(dir, 'vhost-net-host-to-vm1.json')], format: 'markdown'})
    expect(md.pass).toBe(true)
    expect(md.text).toContain('kernel 6.18.44-fc-v669, 2 x Intel(R) Xeon(R) Processor, accel tcg, QEMU 7.2.22, iperf3 3.12')
    expect(md.text).toContain(`**${DEGRADED}; datapath unverified`)
  })

  it('baseline regression through files; --max-regression needs --baseline', async () => {
    const base = vhostUser()
    const slower = {...base, cases: base.cases.map((c) => ({...c, throughput: {...c.throughput, median: c.throughput.median * 0.8}}))}
    const dir = write({'base.json': base, 'now.json': slower})
    const r = await reportResults(fs, {files: [path.join(dir, 'now.json')], format: 'table', baseline: path.join(dir, 'base.json'), maxRegressionPct: 10})
    expect(r.pass).toBe(false)
    expect(r.cases[0]?.changePct).toBe(-20)
    await expect(reportResults(fs, {files: [path.join(dir, 'now.json')], format: 'table', maxRegressionPct: 10})).rejects.toMatchObject({code: 'REPORT_BAD_FLAG'})
  })

  it('a file that does not follow the schema is RESULT_INVALID naming the file', async () => {
    const dir = write({'bad.json': {kind: 'virtlab-result', version: 1}, 'text.json': 'not json'})
    await expect(reportResults(fs, {files: [path.join(dir, 'bad.json')], format: 'table'})).rejects.toMatchObject({code: 'RESULT_INVALID', message: expect.stringContaining('bad.json')})
    await expect(reportResults(fs, {files: [path.join(dir, 'text.json')], format: 'table'})).rejects.toMatchObject({code: 'RESULT_INVALID'})
    await expect(reportResults(fs, {files: [path.join(dir, 'none.json')], format: 'table'})).rejects.toMatchObject({code: 'RESULT_NOT_FOUND'})
  })

  it('reads what `virtlab test --json` prints (the envelope), and says when it is an error instead', async () => {
    const dir = write({
      'r.json': {lab: 'vhost-net', files: ['results/vhost-net-host-to-vm1.json', 'results/vhost-user-host-to-vm1.json'], results: [vhostNetDegraded(), vhostUser()]},
      'empty.json': {lab: 'x', files: [], results: []},
      'err.json': {error: {code: 'LAB_NOT_RUNNING', message: 'lab x is not running'}},
      'bad.json': {lab: 'x', files: [], results: [{kind: 'virtlab-result', version: 1}]},
    })
    const r = await reportResults(fs, {files: [path.join(dir, 'r.json')], format: 'table', allowDegraded: true})
    expect(r.files).toEqual([`${path.join(dir, 'r.json')}#results[0]`, `${path.join(dir, 'r.json')}#results[1]`])
    expect(r.cases.map((c) => c.key)).toEqual(['vhost-net/host-to-vm1/tcp-tx-default', 'vhost-user/host-to-vm1/tcp-tx-default'])
    await expect(reportResults(fs, {files: [path.join(dir, 'empty.json')], format: 'table'})).rejects.toMatchObject({code: 'RESULT_INVALID', message: expect.stringContaining('without results')})
    await expect(reportResults(fs, {files: [path.join(dir, 'err.json')], format: 'table'})).rejects.toMatchObject({code: 'RESULT_INVALID', message: expect.stringContaining('failed command (error LAB_NOT_RUNNING)')})
    await expect(reportResults(fs, {files: [path.join(dir, 'bad.json')], format: 'table'})).rejects.toMatchObject({code: 'RESULT_INVALID', message: expect.stringContaining('results[0]')})
  })

  it('--out DIR (existing, or ending in /) gets every format; a file in a missing directory is refused with a code', async () => {
    const dir = write({'a.json': vhostUser()})
    const outDir = path.join(dir, 'out')
    nodefs.mkdirSync(outDir)
    const r = await reportResults(fs, {files: [path.join(dir, 'a.json')], format: 'markdown', out: outDir})
    expect(r.written.map((f) => path.basename(f))).toEqual(['report.txt', 'report.md', 'report.svg', 'junit.xml', 'report.html'])
    expect(nodefs.readFileSync(path.join(outDir, 'report.md'), 'utf8')).toBe(r.text)
    expect(nodefs.readFileSync(path.join(outDir, 'report.svg'), 'utf8')).toMatch(/^<svg /)
    expect(nodefs.readFileSync(path.join(outDir, 'junit.xml'), 'utf8')).toMatch(/^<\?xml /)
    expect(nodefs.readFileSync(path.join(outDir, 'report.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/)
    const created = await reportResults(fs, {files: [path.join(dir, 'a.json')], format: 'table', out: path.join(dir, 'new') + '/'})
    expect(created.written).toHaveLength(5)
    expect(nodefs.statSync(path.join(dir, 'new', 'report.txt')).isFile()).toBe(true)
    await expect(reportResults(fs, {files: [path.join(dir, 'a.json')], format: 'table', out: path.join(dir, 'missing', 'r.txt')})).rejects.toMatchObject({code: 'REPORT_OUT_INVALID', hint: expect.stringContaining('mkdir -p')})
    const c = await compareResults(fs, {files: [path.join(dir, 'a.json')], format: 'table', out: outDir})
    expect(c.written.map((f) => path.basename(f))).toEqual(['compare.txt', 'compare.md'])
  })

  it('compare renders Markdown from files', async () => {
    const dir = write({'a.json': vhostNetDegraded(), 'b.json': vhostUser()})
    const c = await compareResults(fs, {files: [dir], format: 'markdown'})
    expect(c.text).toContain('### Comparing virtio architectures (measured on this host)')
    expect(c.text).toMatch(/\| sriov \(SR-IOV VF passthrough\) \| .* \| not measured \| not measured \|/)
    expect(c.architectures.filter((a) => a.measured).map((a) => a.facts.name)).toEqual(['vhost-net', 'vhost-user'])
    expect(c.text).toContain('Sources: [virtio-qemu](docs/labs/virtio-qemu.md), [vhost-net](docs/labs/vhost-net.md)')
  })
})

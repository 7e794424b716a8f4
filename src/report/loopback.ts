/** The `bench loopback` table (plain text): one row per frame size. */
import type {ResultDocument} from '../measure/result-schema.js'

function pad(cells: string[][]): string {
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length))) ?? []
  return cells.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd()).join('\n') + '\n'
}

export function renderLoopbackTable(result: ResultDocument): string {
  const rows: string[][] = [['frame', 'Mpps', 'min', 'max', 'Gbit/s', 'reverse Mpps', 'windows', 'sent', 'received', 'counters']]
  for (const f of result.frameRates ?? []) {
    const last = f.trials[f.trials.length - 1]
    rows.push([
      `${f.frameBytes} B`,
      f.mpps.median.toFixed(3),
      f.mpps.min.toFixed(3),
      f.mpps.max.toFixed(3),
      f.gbps.median.toFixed(3),
      last?.reverseMpps == null ? '-' : last.reverseMpps.toFixed(3),
      String(f.trials.reduce((n, t) => n + t.windows, 0)),
      String(f.trials.reduce((n, t) => n + (t.forward?.sent ?? 0), 0)),
      String(f.trials.reduce((n, t) => n + (t.forward?.received ?? 0), 0)),
      f.countersConsistent ? 'consistent' : 'MISMATCH',
    ])
  }
  const head = `loopback (${result.test.tool}, vhost-user <-> virtio-user, no VM): ${result.test.trials} trial(s) x ${result.test.durationS} s per frame size; DPDK ${result.provenance.versions.dpdk ?? '?'}`
  const notes = [...result.degraded.map((d) => `  ${d}`), ...(result.frameRates ?? []).filter((f) => f.noisy).map((f) => `  noisy: ${f.frameBytes} B (CV ${f.mpps.cvPct.toFixed(1)} %)`)]
  return `${head}\n${pad(rows)}${notes.length > 0 ? notes.join('\n') + '\n' : ''}`
}

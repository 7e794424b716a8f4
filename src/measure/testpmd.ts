/**
 * DPDK testpmd: `show port stats all` parsed into counters and rates per port (Mpps reported).
 * The layout is testpmd's nic_stats_display (app/test-pmd/config.c): a "NIC statistics for port N"
 * banner, RX-packets / RX-missed / RX-bytes, RX-errors, RX-nombuf, TX-packets / TX-errors /
 * TX-bytes, then "Throughput (since last show)" with Rx-pps / Rx-bps and Tx-pps / Tx-bps (the bps
 * columns are absent in old releases).
 *
 * With `--stats-period N` (non-interactive) testpmd prints the same blocks every N seconds under a
 * "Port statistics ====" heading, after an ANSI clear-screen; on SIGINT it prints "Forward
 * statistics for port N" (RX-packets / RX-dropped / RX-total, TX-packets / TX-dropped / TX-total)
 * and the accumulated totals (app/test-pmd/testpmd.c print_stats, fwd_stats_display).
 * test/fixtures/testpmd/loopback-*.out are recorded from real runs of DPDK 22.11's dpdk-testpmd.
 */
import {VirtlabError} from '../errors.js'

export interface TestpmdPortStats {
  port: number
  rxPackets: number
  rxMissed: number
  rxBytes: number
  rxErrors: number
  rxNombuf: number
  txPackets: number
  txErrors: number
  txBytes: number
  /** Rates since the previous `show port stats` (testpmd computes them between two calls). */
  rxPps: number
  txPps: number
  rxBps: number | undefined
  txBps: number | undefined
}

export interface TestpmdStats {
  ports: TestpmdPortStats[]
  /** Sum over ports, in millions of packets per second. */
  rxMpps: number
  txMpps: number
}

const BANNER = /NIC statistics for port (\d+)/

function field(block: string, label: string): number | undefined {
  const match = new RegExp(`\\b${label}:\\s*(\\d+)`).exec(block)
  return match ? Number(match[1]) : undefined
}

export function parseTestpmdPortStats(text: string): TestpmdStats {
  const ports: TestpmdPortStats[] = []
  const starts: {port: number; index: number}[] = []
  const banner = new RegExp(BANNER.source, 'g')
  for (let m = banner.exec(text); m !== null; m = banner.exec(text)) starts.push({port: Number(m[1]), index: m.index})
  if (starts.length === 0) {
    throw new VirtlabError('TESTPMD_BAD_OUTPUT', 'no "NIC statistics for port" block in the testpmd output', {
      hint: 'Send `show port stats all` to testpmd (interactive mode, -i) and pass what it printed.',
    })
  }
  for (const [i, start] of starts.entries()) {
    const block = text.slice(start.index, starts[i + 1]?.index ?? text.length)
    const need = (label: string): number => {
      const value = field(block, label)
      if (value === undefined) throw new VirtlabError('TESTPMD_BAD_OUTPUT', `port ${start.port}: no ${label} in the testpmd statistics`)
      return value
    }
    ports.push({
      port: start.port,
      rxPackets: need('RX-packets'),
      rxMissed: field(block, 'RX-missed') ?? 0,
      rxBytes: need('RX-bytes'),
      rxErrors: field(block, 'RX-errors') ?? 0,
      rxNombuf: field(block, 'RX-nombuf') ?? 0,
      txPackets: need('TX-packets'),
      txErrors: field(block, 'TX-errors') ?? 0,
      txBytes: need('TX-bytes'),
      rxPps: need('Rx-pps'),
      txPps: need('Tx-pps'),
      rxBps: field(block, 'Rx-bps'),
      txBps: field(block, 'Tx-bps'),
    })
  }
  return {
    ports,
    rxMpps: ports.reduce((sum, p) => sum + p.rxPps, 0) / 1e6,
    txMpps: ports.reduce((sum, p) => sum + p.txPps, 0) / 1e6,
  }
}

/**
 * Rates from two cumulative snapshots taken `seconds` apart (robust when testpmd's own "since last
 * show" window is unknown): packets per second per port.
 */
export function testpmdRates(before: TestpmdStats, after: TestpmdStats, seconds: number): {port: number; rxPps: number; txPps: number}[] {
  if (!(seconds > 0)) throw new RangeError('seconds must be positive')
  return after.ports.map((p) => {
    const b = before.ports.find((x) => x.port === p.port)
    return {
      port: p.port,
      rxPps: Math.max(0, p.rxPackets - (b?.rxPackets ?? 0)) / seconds,
      txPps: Math.max(0, p.txPackets - (b?.txPackets ?? 0)) / seconds,
    }
  })
}

// ---- --stats-period output and the exit summary -------------------------------------------------

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g

/** One periodic snapshot: the stats of every port, in the order printed. */
export interface TestpmdSnapshot {
  index: number
  ports: TestpmdPortStats[]
}

/** Every periodic snapshot of a `--stats-period` run (empty when testpmd printed none). */
export function parseTestpmdStatsStream(text: string): TestpmdSnapshot[] {
  const clean = text.replace(ANSI, '')
  const parts = clean.split(/^Port statistics =+\s*$/m).slice(1)
  const snapshots: TestpmdSnapshot[] = []
  for (const part of parts) {
    // The part ends where the next non-statistics output starts (the exit summary, events).
    const end = part.search(/Forward statistics for port|Telling cores to stop/)
    const body = end >= 0 ? part.slice(0, end) : part
    if (!BANNER.test(body)) continue
    // A snapshot cut off by the signal (no Tx-pps yet) is not a snapshot.
    try {
      snapshots.push({index: snapshots.length, ports: parseTestpmdPortStats(body).ports})
    } catch {
      continue
    }
  }
  return snapshots
}

export interface TestpmdForwardStats {
  port: number
  rxPackets: number
  rxDropped: number
  txPackets: number
  txDropped: number
}

/** The per-port "Forward statistics" testpmd prints when forwarding stops (undefined when absent: it did not stop cleanly). */
export function parseTestpmdForwardStats(text: string): TestpmdForwardStats[] | undefined {
  const clean = text.replace(ANSI, '')
  const re = /Forward statistics for port (\d+)\s*-+\s*RX-packets:\s*(\d+)\s+RX-dropped:\s*(\d+)\s+RX-total:\s*\d+\s*TX-packets:\s*(\d+)\s+TX-dropped:\s*(\d+)/g
  const out: TestpmdForwardStats[] = []
  for (let m = re.exec(clean); m !== null; m = re.exec(clean)) {
    out.push({port: Number(m[1]), rxPackets: Number(m[2]), rxDropped: Number(m[3]), txPackets: Number(m[4]), txDropped: Number(m[5])})
  }
  return out.length > 0 ? out : undefined
}

/**
 * The steady-state windows of a run, testpmd's own "since last show" Rx-pps / Rx-bps (it times
 * each window itself): the windows with traffic, less the first (it also covers the time before
 * the peer connected) and, when traffic stopped before testpmd did, the last (it covers the stop).
 */
export function steadyWindows(snapshots: readonly TestpmdSnapshot[], port = 0): TestpmdPortStats[] {
  const withPort = snapshots.map((s) => s.ports.find((p) => p.port === port)).filter((p): p is TestpmdPortStats => p !== undefined)
  const first = withPort.findIndex((p) => p.rxPps > 0)
  if (first < 0) return []
  let last = withPort.length - 1
  while (last > first && withPort[last]?.rxPps === 0) last -= 1
  const stopped = last < withPort.length - 1
  return withPort.slice(first + 1, stopped ? last : last + 1).filter((p) => p.rxPps > 0)
}

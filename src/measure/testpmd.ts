/**
 * DPDK testpmd: `show port stats all` parsed into counters and rates per port (Mpps reported).
 * The layout is testpmd's nic_stats_display (app/test-pmd/config.c): a "NIC statistics for port N"
 * banner, RX-packets / RX-missed / RX-bytes, RX-errors, RX-nombuf, TX-packets / TX-errors /
 * TX-bytes, then "Throughput (since last show)" with Rx-pps / Rx-bps and Tx-pps / Tx-bps (the bps
 * columns are absent in old releases).
 *
 * The runner path for testpmd (a DPDK guest) is not implemented yet; this parser is.
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

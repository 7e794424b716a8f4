/**
 * `virtlab compare`: the virtio architectures side by side, like the "Comparing virtio
 * architectures" table of the Red Hat virtio-networking series (seeds 001/003), but with the
 * numbers measured on this host next to qualitative facts. The qualitative table below is
 * virtlab's own summary of those posts and of docs/labs/<architecture>.md (which cite the OVS,
 * DPDK, QEMU, libvirt and kernel documentation); it is data, not measurement.
 */
import type {ArchitectureName, ResultDocument} from '../measure/result-schema.js'
import {type ReportRow, allRows, fmtGbps, fmtNumber, fmtPps, rowLabels} from './rows.js'
import type {Table} from './table.js'

export type ComparedArchitecture = Exclude<ArchitectureName, 'mixed' | 'none'>

export interface ArchitectureFacts {
  name: ComparedArchitecture
  title: string
  /** Where the packets are moved. */
  dataPlane: string
  hugepages: string
  vendorDriverInGuest: string
  liveMigratable: string
  hardwareNeeded: string
  /** Where the series places it. */
  positioning: string
  /** The project's page on this architecture (what the lab does and the public sources). */
  doc: string
}

export const ARCHITECTURES: readonly ArchitectureFacts[] = [
  {
    name: 'virtio-qemu',
    doc: 'docs/labs/virtio-qemu.md',
    title: 'virtio-net, QEMU userspace backend',
    dataPlane: 'QEMU process (tap read/write per packet batch)',
    hugepages: 'no',
    vendorDriverInGuest: 'no (virtio-net)',
    liveMigratable: 'yes',
    hardwareNeeded: 'none',
    positioning: 'baseline: every packet crosses QEMU (context switches)',
  },
  {
    name: 'vhost-net',
    doc: 'docs/labs/vhost-net.md',
    title: 'vhost-net / virtio-net',
    dataPlane: 'host kernel (vhost-<pid> worker), tap + bridge/OVS',
    hugepages: 'no',
    vendorDriverInGuest: 'no (virtio-net)',
    liveMigratable: 'yes',
    hardwareNeeded: 'none (/dev/vhost-net)',
    positioning: 'slow end of the series: kernel datapath, interrupt driven',
  },
  {
    name: 'vhost-user',
    doc: 'docs/labs/vhost-user.md',
    title: 'vhost-user / virtio-pmd (OVS-DPDK)',
    dataPlane: 'host userspace DPDK PMD threads (busy polling)',
    hugepages: 'yes (DPDK on the host; guest memory shared: hugepages or memfd)',
    vendorDriverInGuest: 'no (virtio-net or virtio-pmd)',
    liveMigratable: 'yes',
    hardwareNeeded: 'none (a DPDK-capable NIC for physical ports); dedicated PMD cores',
    positioning: 'faster: kernel bypass, polling cores',
  },
  {
    name: 'sriov',
    doc: 'docs/labs/sriov.md',
    title: 'SR-IOV VF passthrough',
    dataPlane: "NIC hardware, the VF's vendor ring layout, straight into the guest",
    hugepages: 'no (yes for DPDK in the guest)',
    vendorDriverInGuest: 'yes (the VF driver, kernel or PMD)',
    liveMigratable: 'no (device assignment; only with failover/teaming tricks)',
    hardwareNeeded: 'SR-IOV NIC + IOMMU (VT-d/AMD-Vi)',
    positioning: 'wirespeed, but vendor specific',
  },
  {
    name: 'vdpa',
    doc: 'docs/labs/vdpa.md',
    title: 'vDPA (virtio data path in hardware)',
    dataPlane: 'NIC hardware speaking the virtio ring layout; control plane via vhost-vdpa',
    hugepages: 'no',
    vendorDriverInGuest: 'no (virtio-net)',
    liveMigratable: 'yes (standard virtio ring, across NIC vendors)',
    hardwareNeeded: 'vDPA-capable NIC (vdpa_sim for function only)',
    positioning: 'wirespeed with a standard guest driver',
  },
]

export interface ComparedRow {
  facts: ArchitectureFacts
  labs: string[]
  measured: boolean
  /** The best TCP median (else any case), Gbit/s, and which case. */
  throughput: {gbps: number; what: string; degraded: boolean} | null
  /** The highest UDP packet rate (cases or zero-loss), pps, and which. */
  pps: {pps: number; what: string} | null
  latency: {p50Ms: number; p99Ms: number} | null
  gbpsPerCore: number | null
  labels: string[]
}

function best<T>(items: readonly T[], score: (t: T) => number | null): T | undefined {
  let top: T | undefined
  let topScore = -Infinity
  for (const item of items) {
    const s = score(item)
    if (s !== null && s > topScore) {
      top = item
      topScore = s
    }
  }
  return top
}

function what(row: ReportRow): string {
  return row.kind === 'zero-loss' ? `zero-loss ${row.size ?? ''} B` : `${row.caseId}`
}

export function compareArchitectures(results: readonly ResultDocument[]): ComparedRow[] {
  return ARCHITECTURES.map((facts) => {
    const docs = results.filter((r) => r.lab.architecture === facts.name)
    const rows = allRows(docs)
    const tcp = rows.filter((r) => r.protocol === 'tcp')
    const top = best(tcp.length > 0 ? tcp : rows, (r) => r.gbps)
    const topPps = best(rows.filter((r) => r.pps !== null), (r) => r.pps)
    const latencyDoc = docs.find((d) => d.latency !== null)
    const perCore = best(rows, (r) => r.gbpsPerCore)
    const labels = [...new Set(rows.flatMap((r) => rowLabels({...r, noisy: false})))]
    return {
      facts,
      labs: [...new Set(docs.map((d) => d.lab.name))],
      measured: docs.length > 0,
      throughput: top === undefined ? null : {gbps: top.gbps, what: what(top), degraded: top.degraded.length > 0},
      pps: topPps?.pps == null ? null : {pps: topPps.pps, what: what(topPps)},
      latency: latencyDoc?.latency ? {p50Ms: latencyDoc.latency.p50Ms, p99Ms: latencyDoc.latency.p99Ms} : null,
      gbpsPerCore: perCore?.gbpsPerCore ?? null,
      labels,
    }
  })
}

export function compareTable(rows: readonly ComparedRow[]): Table {
  const headers = ['Architecture', 'Data plane', 'Throughput', 'Packet rate', 'RTT p50 / p99 ms', 'Gbit/s per core', 'Hugepages', 'Vendor driver in guest', 'Live migration', 'Hardware needed', 'Measured on', 'Notes']
  const numeric = [false, false, true, true, true, true, false, false, false, false, false, false]
  return {
    headers,
    numeric,
    rows: rows.map((r) => [
      `${r.facts.name} (${r.facts.title})`,
      r.facts.dataPlane,
      // A degraded number is labelled where it is read, not only in the Notes column.
      r.throughput === null ? 'not measured' : `${fmtGbps(r.throughput.gbps)} Gbit/s (${r.throughput.what})${r.throughput.degraded ? ' [degraded]' : ''}`,
      r.pps === null ? (r.measured ? '-' : 'not measured') : `${fmtPps(r.pps.pps)} (${r.pps.what})`,
      r.latency === null ? '-' : `${r.latency.p50Ms.toFixed(3)} / ${r.latency.p99Ms.toFixed(3)}`,
      fmtNumber(r.gbpsPerCore, 3),
      r.facts.hugepages,
      r.facts.vendorDriverInGuest,
      r.facts.liveMigratable,
      r.facts.hardwareNeeded,
      r.labs.join(', ') || '-',
      [...r.labels, r.facts.positioning].join('; '),
    ]),
  }
}

/**
 * The result document: one JSON file per lab test run (results/<lab>-<test>.json). This TypeBox
 * definition is the one source; schema/result.schema.json is generated from it
 * (resultSchemaText(); test/measure/result-schema.test.ts fails when the file is stale and
 * rewrites it with VIRTLAB_UPDATE_SCHEMA=1).
 */
import {type Static, type TSchema, Type} from '@sinclair/typebox'

const strict = {additionalProperties: false}
const Num = Type.Number()
const NullableNum = Type.Union([Type.Number(), Type.Null()])
const NullableStr = Type.Union([Type.String(), Type.Null()])
const Timestamp = Type.String({format: 'date-time'})

export const RESULT_KIND = 'virtlab-result'
export const RESULT_VERSION = 1

export const Architecture = Type.Union([
  Type.Literal('virtio-qemu'),
  Type.Literal('vhost-net'),
  Type.Literal('vhost-user'),
  Type.Literal('sriov'),
  Type.Literal('vdpa'),
  Type.Literal('mixed'),
  Type.Literal('none'),
], {description: 'the virtio architecture of the lab (from its NIC backends); mixed when the NICs differ'})

export const ToolNameSchema = Type.Union([
  Type.Literal('iperf3'),
  Type.Literal('testpmd'),
], {description: 'the measurement tool that produced the figures (src/measure/tools/)'})

export const StatsSchema = Type.Object({
  n: Type.Integer({minimum: 1}),
  median: Num,
  min: Num,
  max: Num,
  mean: Num,
  stddev: Num,
  cvPct: Type.Number({description: 'coefficient of variation, percent'}),
}, strict)

export const CpuSchema = Type.Object({
  hostPct: Type.Number({description: 'iperf3 cpu_utilization_percent.host_total (100 = one core)'}),
  remotePct: Type.Number({description: 'iperf3 cpu_utilization_percent.remote_total'}),
}, strict)

export const IntervalSchema = Type.Object({
  start: Num,
  end: Num,
  gbps: Num,
  reverseGbps: Type.Optional(Num),
}, strict)

export const TrialSchema = Type.Object({
  index: Type.Integer({minimum: 1}),
  startedAt: Timestamp,
  /** What arrived (both flows with --bidir). */
  gbps: Type.Number({description: 'received Gbit/s (sum of both directions with --bidir)'}),
  sentGbps: Num,
  retransmits: Type.Union([Type.Integer(), Type.Null()]),
  lossPct: NullableNum,
  jitterMs: NullableNum,
  pps: Type.Union([Type.Number(), Type.Null()], {description: 'UDP: packets per second received'}),
  cpu: Type.Union([CpuSchema, Type.Null()]),
  intervals: Type.Array(IntervalSchema, {description: 'per-interval rates, warm-up (-O) intervals excluded'}),
  /** Index into provenance.commands of the client command of this trial. */
  command: Type.Integer({minimum: 0}),
  /** Wall-clock seconds the client command took (optional: results written before it was recorded lack it). */
  elapsedS: Type.Optional(Type.Number({minimum: 0, description: 'wall-clock seconds of the trial (the iperf3 client run, warm-up included)'})),
}, strict)

export const CaseSchema = Type.Object({
  tool: Type.Optional(ToolNameSchema),
  id: Type.String({description: '<protocol>-<direction>-<size|default>'}),
  protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]),
  direction: Type.Union([Type.Literal('tx'), Type.Literal('rx'), Type.Literal('both')]),
  size: Type.Union([Type.Integer({minimum: 1}), Type.Null()], {description: 'TCP message or UDP datagram bytes; null: iperf3 default'}),
  streams: Type.Integer({minimum: 1}),
  trials: Type.Array(TrialSchema, {minItems: 1}),
  throughput: StatsSchema,
  pps: Type.Union([StatsSchema, Type.Null()]),
  lossPct: Type.Union([StatsSchema, Type.Null()]),
  noisy: Type.Boolean({description: 'throughput CV above the noise threshold'}),
  cpu: Type.Union([Type.Object({
    hostPct: Num,
    remotePct: Num,
    gbpsPerCore: NullableNum,
  }, strict), Type.Null()]),
}, strict)

export const SearchTrialSchema = Type.Object({
  rateGbps: Num,
  offeredGbps: Num,
  receivedGbps: Num,
  lossPct: Num,
  pps: NullableNum,
  durationS: Num,
  pass: Type.Boolean(),
  final: Type.Boolean(),
}, strict)

export const ZeroLossSchema = Type.Object({
  tool: Type.Optional(ToolNameSchema),
  size: Type.Integer({minimum: 1}),
  frameBytes: Type.Integer({description: 'Ethernet frame on the wire for this UDP payload (payload + 46)'}),
  lossTargetPct: Num,
  found: Type.Boolean(),
  rateGbps: Type.Number({description: 'the highest offered rate (-b) that passed, confirmed by the final trial'}),
  offeredGbps: NullableNum,
  gbps: Type.Union([Type.Number(), Type.Null()], {description: 'received Gbit/s in the final trial'}),
  pps: NullableNum,
  lossPct: NullableNum,
  resolutionGbps: Num,
  atMaximum: Type.Boolean({description: 'the starting (maximum) rate passed: the path may do more'}),
  trials: Type.Array(SearchTrialSchema),
}, strict)

export const PortCountersSchema = Type.Object({
  sent: Type.Integer({minimum: 0, description: 'TX-packets of the sending side (testpmd forward statistics)'}),
  received: Type.Integer({minimum: 0, description: 'RX-packets of the receiving side'}),
  lost: Type.Integer({description: 'sent - received (at most the packets in flight when forwarding stopped)'}),
}, strict)

export const FrameRateTrialSchema = Type.Object({
  index: Type.Integer({minimum: 1}),
  startedAt: Timestamp,
  mpps: Type.Number({description: 'median Rx-pps / 1e6 of the steady windows, the direction measured'}),
  gbps: Type.Number({description: 'median Rx-bps / 1e9 of the same windows (frame bytes x 8, no FCS, preamble or gap)'}),
  reverseMpps: NullableNum,
  windows: Type.Integer({minimum: 0, description: 'stats windows (--stats-period) in the median'}),
  forward: Type.Union([PortCountersSchema, Type.Null()], {description: 'client -> server packets, from both sides\' exit summaries'}),
  reverse: Type.Union([PortCountersSchema, Type.Null()]),
  command: Type.Integer({minimum: 0, description: 'index into provenance.commands of the client command'}),
  elapsedS: Type.Optional(Type.Number({minimum: 0})),
}, strict)

export const FrameRateSchema = Type.Object({
  tool: ToolNameSchema,
  id: Type.String({description: 'frames-<bytes>'}),
  frameBytes: Type.Integer({minimum: 1, description: 'frame size in bytes as the PMD sees it (testpmd --txpkts)'}),
  trials: Type.Array(FrameRateTrialSchema, {minItems: 1}),
  mpps: StatsSchema,
  gbps: StatsSchema,
  noisy: Type.Boolean({description: 'Mpps CV above the noise threshold'}),
  countersConsistent: Type.Boolean({description: 'in every trial, sent - received is at most the packets in flight (one --tx-first burst) per direction'}),
}, strict)

export const LatencySchema = Type.Object({
  from: Type.String(),
  to: Type.String(),
  count: Type.Integer({minimum: 1}),
  transmitted: Type.Integer(),
  received: Type.Integer(),
  lossPct: Num,
  minMs: Num,
  meanMs: Num,
  maxMs: Num,
  p50Ms: Num,
  p90Ms: Num,
  p99Ms: Num,
  command: Type.Integer({minimum: 0}),
}, strict)

export const DatapathSchema = Type.Object({
  kind: Type.Union([
    Type.Literal('virtio-qemu'), Type.Literal('vhost-net'), Type.Literal('vhost-user'),
    Type.Literal('sriov'), Type.Literal('vdpa'), Type.Literal('unknown'),
  ]),
  verified: Type.Boolean(),
  evidence: Type.Array(Type.String()),
  reason: Type.Optional(Type.String({description: 'why the datapath is not verified'})),
}, strict)

export const CommandSchema = Type.Object({
  endpoint: Type.String({description: '"host" (the lab namespace) or a VM name'}),
  argv: Type.Array(Type.String(), {minItems: 1}),
  at: Timestamp,
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
}, strict)

export const ProvenanceSchema = Type.Object({
  virtlab: Type.String(),
  host: Type.Object({
    kernel: NullableStr,
    cpuModel: NullableStr,
    cpuCount: Type.Union([Type.Integer(), Type.Null()]),
  }, strict),
  versions: Type.Object({
    qemu: NullableStr,
    libvirt: NullableStr,
    ovs: NullableStr,
    dpdk: NullableStr,
    iperf3: NullableStr,
  }, strict),
  accel: Type.Union([Type.Literal('kvm'), Type.Literal('tcg'), Type.Null()]),
  commands: Type.Array(CommandSchema),
  target: Type.Optional(Type.Object({
    name: Type.String({description: '"local", a name from the hosts file, or the ssh:// URL'}),
    transport: Type.Union([Type.Literal('local'), Type.Literal('ssh')]),
    url: NullableStr,
    user: NullableStr,
    hostname: NullableStr,
  }, {...strict, description: 'the target host the lab ran on'})),
}, strict)

export const ResultSchema = Type.Object({
  kind: Type.Literal(RESULT_KIND),
  version: Type.Literal(RESULT_VERSION),
  lab: Type.Object({
    name: Type.String(),
    file: NullableStr,
    params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
    architecture: Architecture,
    backends: Type.Array(Type.String()),
    driver: Type.Union([Type.Literal('libvirt'), Type.Literal('qemu'), Type.Null()]),
  }, strict),
  test: Type.Object({
    name: Type.String(),
    tool: ToolNameSchema,
    client: Type.String(),
    server: Type.String(),
    protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]),
    direction: Type.Union([Type.Literal('tx'), Type.Literal('rx'), Type.Literal('both')]),
    durationS: Type.Integer({minimum: 1}),
    warmupS: Type.Integer({minimum: 0}),
    streams: Type.Integer({minimum: 1}),
    sizes: Type.Array(Type.Integer({minimum: 1})),
    trials: Type.Integer({minimum: 1}),
    bitrate: NullableStr,
    zeroLoss: Type.Boolean(),
    lossTargetPct: Num,
    noiseThresholdPct: Num,
  }, strict),
  startedAt: Timestamp,
  finishedAt: Timestamp,
  cases: Type.Array(CaseSchema),
  zeroLoss: Type.Array(ZeroLossSchema),
  frameRates: Type.Optional(Type.Array(FrameRateSchema, {description: 'packet-rate cases per frame size (testpmd)'})),
  latency: Type.Union([LatencySchema, Type.Null()]),
  datapath: DatapathSchema,
  degraded: Type.Array(Type.String(), {description: 'degraded-path labels, e.g. "degraded: no vhost-net (userspace virtio backend over tap)"'}),
  provenance: ProvenanceSchema,
}, {...strict, $id: 'https://virtlab.dev/schema/result.schema.json', title: 'virtlab measurement result'})

export type ResultDocument = Static<typeof ResultSchema>
export type CaseResult = Static<typeof CaseSchema>
export type TrialResult = Static<typeof TrialSchema>
export type ZeroLossCaseResult = Static<typeof ZeroLossSchema>
export type SearchTrialResult = Static<typeof SearchTrialSchema>
export type LatencyResult = Static<typeof LatencySchema>
export type CommandRecord = Static<typeof CommandSchema>
export type FrameRateResult = Static<typeof FrameRateSchema>
export type FrameRateTrialResult = Static<typeof FrameRateTrialSchema>
export type ToolNameValue = Static<typeof ToolNameSchema>
export type ArchitectureName = Static<typeof Architecture>
export type StatsResult = Static<typeof StatsSchema>

/** The JSON Schema document published as schema/result.schema.json. */
export function resultJsonSchema(): TSchema {
  return {$schema: 'http://json-schema.org/draft-07/schema#', ...JSON.parse(JSON.stringify(ResultSchema)) as TSchema}
}

export function resultSchemaText(): string {
  return JSON.stringify(resultJsonSchema(), null, 2) + '\n'
}

/**
 * iperf3 in JSON mode (-J): building the client/server argv (pure) and reading the JSON it prints
 * (pure). Field names follow iperf3 3.x's JSON output (iperf_api.c): end.sum_sent / end.sum_received
 * for TCP, end.sum (+ sum_sent / sum_received since 3.x) for UDP with lost_percent, jitter_ms and
 * packets; --bidir adds *_bidir_reverse sums; omitted (-O) intervals carry "omitted": true;
 * cpu_utilization_percent has host_total (this side) and remote_total (the peer).
 *
 * iperf3 with -J reports failures as {"error": "..."} and may still exit 0 (3.12 does for
 * "unable to connect"), so the error field is authoritative, not the exit code.
 */
import {VirtlabError} from '../errors.js'

export const DEFAULT_IPERF3_PORT = 5201

export type Protocol = 'tcp' | 'udp'
export type Direction = 'tx' | 'rx' | 'both'

export interface Iperf3ClientSpec {
  /** The server's address. */
  server: string
  port?: number
  protocol: Protocol
  /** tx: client sends (default); rx: server sends (-R); both: --bidir. */
  direction: Direction
  durationS: number
  /** Seconds at the start excluded from the result (-O). */
  omitS: number
  streams: number
  /** TCP: message (write) size; UDP: datagram payload size (-l). Undefined: iperf3's default. */
  size?: number | undefined
  /** Offered rate (-b) in bit/s or as iperf3 text ("10G"); UDP without a rate means unlimited (-b 0). */
  bitrate?: number | string | undefined
  /** Bind to this local address (-B). */
  bind?: string | undefined
  /** The program (default "iperf3"). */
  program?: string
}

export interface Iperf3ServerSpec {
  port?: number
  bind?: string | undefined
  /** Exit after one test (-1). */
  oneOff?: boolean
  program?: string
}

function rateArg(rate: number | string): string {
  if (typeof rate === 'number') {
    if (!Number.isFinite(rate) || rate < 0) throw new VirtlabError('MEASURE_BAD_RATE', `invalid iperf3 rate ${rate}`)
    return String(Math.round(rate))
  }
  if (!/^[0-9]{1,12}(\.[0-9]{1,3})?[KMGkmg]?$/.test(rate)) throw new VirtlabError('MEASURE_BAD_RATE', `invalid iperf3 rate "${rate}"`)
  return rate
}

function positiveInt(what: string, value: number, min: number, max: number): string {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new VirtlabError('MEASURE_BAD_SPEC', `iperf3 ${what} must be an integer in ${min}..${max}, got ${value}`)
  }
  return String(value)
}

/** The client argv: iperf3 -c <server> -p <port> -J -t <s> -O <s> -P <n> [-u -b <rate>] [-l <size>] [-R | --bidir]. */
export function iperf3ClientArgv(spec: Iperf3ClientSpec): string[] {
  if (spec.server.startsWith('-') || spec.server.length === 0) throw new VirtlabError('MEASURE_BAD_SPEC', `invalid iperf3 server address "${spec.server}"`)
  const argv = [spec.program ?? 'iperf3', '-c', spec.server, '-p', positiveInt('port', spec.port ?? DEFAULT_IPERF3_PORT, 1, 65535), '-J']
  argv.push('-t', positiveInt('duration', spec.durationS, 1, 86400))
  if (spec.omitS > 0) argv.push('-O', positiveInt('warm-up', spec.omitS, 0, 600))
  argv.push('-P', positiveInt('streams', spec.streams, 1, 128))
  if (spec.protocol === 'udp') {
    argv.push('-u', '-b', rateArg(spec.bitrate ?? 0))
  } else if (spec.bitrate !== undefined) {
    argv.push('-b', rateArg(spec.bitrate))
  }
  if (spec.size !== undefined) {
    argv.push('-l', positiveInt(spec.protocol === 'udp' ? 'datagram size' : 'message size', spec.size, 1, spec.protocol === 'udp' ? 65507 : 1 << 20))
  }
  if (spec.direction === 'rx') argv.push('-R')
  else if (spec.direction === 'both') argv.push('--bidir')
  if (spec.bind !== undefined) argv.push('-B', spec.bind)
  return argv
}

/** The server argv: iperf3 -s -p <port> [-1] [-B <addr>]. */
export function iperf3ServerArgv(spec: Iperf3ServerSpec = {}): string[] {
  const argv = [spec.program ?? 'iperf3', '-s', '-p', positiveInt('port', spec.port ?? DEFAULT_IPERF3_PORT, 1, 65535)]
  if (spec.oneOff) argv.push('-1')
  if (spec.bind !== undefined) argv.push('-B', spec.bind)
  return argv
}

// ---- parsing --------------------------------------------------------------------------------------

export interface Iperf3Interval {
  /** Seconds since the start of the test (omitted intervals excluded; times as iperf3 reports them). */
  start: number
  end: number
  bitsPerSecond: number
  /** The reverse flow of a --bidir test in this interval. */
  reverseBitsPerSecond?: number
}

export interface Iperf3Flow {
  /** Bits per second the sender put on the wire (offered, for UDP). */
  sentBps: number
  /** Bits per second that arrived. */
  receivedBps: number
  sentBytes: number
  receivedBytes: number
  seconds: number
  /** TCP only. */
  retransmits?: number
  /** UDP only. */
  lossPct?: number
  jitterMs?: number
  packetsSent?: number
  lostPackets?: number
  /** Packets that arrived (packets - lost). */
  packetsReceived?: number
  /** packetsReceived / seconds. */
  receivedPps?: number
  /** packetsSent / seconds. */
  sentPps?: number
}

export interface Iperf3Result {
  protocol: Protocol
  version: string | undefined
  streams: number
  /** -l as iperf3 saw it. */
  blockSize: number | undefined
  durationS: number | undefined
  omitS: number
  reverse: boolean
  bidir: boolean
  /** The forward flow (client -> server; server -> client with -R). */
  forward: Iperf3Flow
  /** --bidir: the reverse flow. */
  reverseFlow: Iperf3Flow | undefined
  /** forward.receivedBps (+ reverse.receivedBps with --bidir): what the test achieved. */
  totalReceivedBps: number
  intervals: Iperf3Interval[]
  /** cpu_utilization_percent: host_total (this end) and remote_total (the peer); 100 = one core busy for the whole test. */
  cpu: {hostPct: number; remotePct: number} | undefined
}

type Json = Record<string, unknown>

function obj(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

function need(o: Json | undefined, key: string, where: string): number {
  const value = num(o?.[key])
  if (value === undefined) throw new VirtlabError('IPERF3_BAD_OUTPUT', `iperf3 JSON has no numeric ${where}.${key}`)
  return value
}

/** Hints for iperf3's error messages (iperf_error.c wording). */
export function iperf3ErrorHint(message: string): string {
  if (/connection refused/i.test(message)) return 'No iperf3 server is listening there: is the server endpoint up, on the right address and port, and not blocked by a firewall?'
  if (/no route to host|network is unreachable/i.test(message)) return 'The client cannot reach the server address: check the lab addresses and that the interfaces are up.'
  if (/timed out|timeout/i.test(message)) return 'The server did not answer in time: is the path up in both directions (ARP, MTU)?'
  if (/server is busy/i.test(message)) return 'Another test is using this iperf3 server; wait for it or use another port.'
  if (/bind|address already in use/i.test(message)) return 'The port is in use on that endpoint: stop the other iperf3 or choose another port.'
  if (/unrecognized option|invalid option|not supported/i.test(message)) return 'This iperf3 is too old for an option virtlab used (--bidir needs iperf3 3.7 or later).'
  return 'Run the same iperf3 command by hand on the endpoint to see more.'
}

/** Throw when iperf3's JSON carries "error". */
export function iperf3Error(data: Json, argv?: readonly string[]): VirtlabError | undefined {
  const message = data.error
  if (typeof message !== 'string') return undefined
  return new VirtlabError('IPERF3_ERROR', `iperf3: ${message}`, {
    hint: iperf3ErrorHint(message),
    ...(argv === undefined ? {} : {command: {argv, stderrTail: message}}),
  })
}

function flowFromSums(sent: Json | undefined, received: Json | undefined, udpSum: Json | undefined, protocol: Protocol, where: string): Iperf3Flow {
  if (protocol === 'tcp') {
    const s = sent ?? received
    const r = received ?? sent
    const flow: Iperf3Flow = {
      sentBps: need(s, 'bits_per_second', `${where} sent`),
      receivedBps: need(r, 'bits_per_second', `${where} received`),
      sentBytes: need(s, 'bytes', `${where} sent`),
      receivedBytes: need(r, 'bytes', `${where} received`),
      seconds: need(r, 'seconds', `${where} received`),
    }
    const retransmits = num(s?.retransmits)
    if (retransmits !== undefined) flow.retransmits = retransmits
    return flow
  }
  // UDP: "sum" carries the loss as the receiver saw it; since 3.x sum_sent/sum_received split the two sides.
  const loss = udpSum ?? received
  if (loss === undefined) throw new VirtlabError('IPERF3_BAD_OUTPUT', `iperf3 UDP JSON has no ${where} sum`)
  const sentSide = sent ?? loss
  const packetsSent = need(loss, 'packets', where)
  const lostPackets = need(loss, 'lost_packets', where)
  const seconds = need(loss, 'seconds', where)
  const sentSeconds = num(sentSide.seconds) ?? seconds
  const lossPct = need(loss, 'lost_percent', where)
  const sentBps = need(sentSide, 'bits_per_second', `${where} sent`)
  const sentBytes = need(sentSide, 'bytes', `${where} sent`)
  // Older iperf3 has only "sum" (sender bytes): the receiver's rate is the offered rate minus the loss.
  const receivedBps = received === undefined ? sentBps * (1 - lossPct / 100) : need(received, 'bits_per_second', `${where} received`)
  const receivedBytes = received === undefined ? sentBytes * (1 - lossPct / 100) : need(received, 'bytes', `${where} received`)
  const packetsReceived = Math.max(0, packetsSent - lostPackets)
  return {
    sentBps,
    receivedBps,
    sentBytes,
    receivedBytes,
    seconds,
    lossPct,
    jitterMs: need(loss, 'jitter_ms', where),
    packetsSent,
    lostPackets,
    packetsReceived,
    receivedPps: seconds > 0 ? packetsReceived / seconds : 0,
    sentPps: sentSeconds > 0 ? packetsSent / sentSeconds : 0,
  }
}

/** Parse iperf3 -J output (client side). Throws IPERF3_ERROR for {"error": ...}, IPERF3_BAD_OUTPUT for anything unreadable. */
export function parseIperf3(text: string, argv?: readonly string[]): Iperf3Result {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    const firstLine = text.trim().split('\n')[0] ?? ''
    throw new VirtlabError('IPERF3_BAD_OUTPUT', `iperf3 did not print JSON${firstLine ? `: ${firstLine.slice(0, 200)}` : ' (no output)'}`, {
      hint: 'Was iperf3 run with -J? Is the program on the endpoint really iperf3 3.x?',
      ...(argv === undefined ? {} : {command: {argv, stderrTail: text.slice(0, 400)}}),
    })
  }
  const data = obj(parsed)
  if (data === undefined) throw new VirtlabError('IPERF3_BAD_OUTPUT', 'iperf3 JSON is not an object')
  const error = iperf3Error(data, argv)
  if (error) throw error
  const start = obj(data.start)
  const testStart = obj(start?.test_start)
  const end = obj(data.end)
  if (end === undefined) throw new VirtlabError('IPERF3_BAD_OUTPUT', 'iperf3 JSON has no "end" section (the test did not finish)')
  const protocolText = typeof testStart?.protocol === 'string' ? testStart.protocol.toUpperCase() : (end.sum !== undefined ? 'UDP' : 'TCP')
  const protocol: Protocol = protocolText === 'UDP' ? 'udp' : 'tcp'
  const bidir = obj(end.sum_sent_bidir_reverse) !== undefined || obj(end.sum_received_bidir_reverse) !== undefined || obj(end.sum_bidir_reverse) !== undefined
  const forward = flowFromSums(obj(end.sum_sent), obj(end.sum_received), protocol === 'udp' ? obj(end.sum) : undefined, protocol, 'end.sum')
  const reverse = bidir
    ? flowFromSums(obj(end.sum_sent_bidir_reverse), obj(end.sum_received_bidir_reverse), protocol === 'udp' ? obj(end.sum_bidir_reverse) : undefined, protocol, 'end.sum_bidir_reverse')
    : undefined

  const intervals: Iperf3Interval[] = []
  for (const raw of Array.isArray(data.intervals) ? data.intervals : []) {
    const interval = obj(raw)
    const sum = obj(interval?.sum)
    if (sum === undefined || sum.omitted === true) continue
    const entry: Iperf3Interval = {
      start: need(sum, 'start', 'intervals[].sum'),
      end: need(sum, 'end', 'intervals[].sum'),
      bitsPerSecond: need(sum, 'bits_per_second', 'intervals[].sum'),
    }
    const reverseSum = obj(interval?.sum_bidir_reverse)
    if (reverseSum !== undefined) entry.reverseBitsPerSecond = need(reverseSum, 'bits_per_second', 'intervals[].sum_bidir_reverse')
    intervals.push(entry)
  }

  const cpuRaw = obj(end.cpu_utilization_percent)
  const hostPct = num(cpuRaw?.host_total)
  const remotePct = num(cpuRaw?.remote_total)
  return {
    protocol,
    version: typeof start?.version === 'string' ? start.version.replace(/^iperf\s+/, '') : undefined,
    streams: num(testStart?.num_streams) ?? 1,
    blockSize: num(testStart?.blksize),
    durationS: num(testStart?.duration),
    omitS: num(testStart?.omit) ?? 0,
    reverse: testStart?.reverse === 1 || testStart?.reverse === true,
    bidir,
    forward,
    reverseFlow: reverse,
    totalReceivedBps: forward.receivedBps + (reverse?.receivedBps ?? 0),
    intervals,
    cpu: hostPct === undefined || remotePct === undefined ? undefined : {hostPct, remotePct},
  }
}

/**
 * CPU cost: Gbit/s per busy core. iperf3's cpu_utilization_percent is the process's CPU time over
 * the wall time, so 100 % means one core busy for the whole test. Counting both ends (this iperf3
 * and the peer's) gives the cost of the path's endpoints, comparable across architectures.
 */
export function gbpsPerCore(gbps: number, cpu: {hostPct: number; remotePct: number} | undefined): number | undefined {
  if (cpu === undefined) return undefined
  const cores = (cpu.hostPct + cpu.remotePct) / 100
  return cores > 0 ? gbps / cores : undefined
}

/** Ethernet frame size on the wire for a UDP/IPv4 datagram payload: payload + 8 UDP + 20 IP + 14 Ethernet + 4 FCS. */
export function frameBytesForUdpPayload(payload: number): number {
  return payload + 8 + 20 + 14 + 4
}

/**
 * A measurement tool: what it measures, how its server and client are started (argv arrays,
 * pure) and how its output is read (pure). Shaped like the NIC backend registry
 * (src/backends/): each tool is one file in ./tools/ plus its parser in this folder, and the
 * registry (./tools/index.ts) is a Record over the result schema's tool names, so a name without
 * a tool (or a tool the schema does not know) does not compile. Every result records the tool
 * that measured it (result-schema.ts `ToolName`).
 */
import type {ToolNameValue} from './result-schema.js'

export type ToolName = ToolNameValue

/** What a tool measures, for docs, `--help` and the report. */
export interface ToolMeasures {
  /** One line: "TCP/UDP throughput between two endpoints". */
  summary: string
  /** The figures it produces, as the result names them. */
  figures: readonly string[]
}

export interface MeasurementTool<ServerSpec, ClientSpec, Parsed> {
  readonly name: ToolName
  /** The program it runs (logical: endpoints map it to a path). */
  readonly program: string
  readonly measures: ToolMeasures
  /** The argv of the side that waits (iperf3 -s; testpmd with the vhost-user backend). */
  serverArgv(spec: ServerSpec): string[]
  /** The argv of the side that starts the traffic (iperf3 -c; testpmd with virtio-user and --tx-first). */
  clientArgv(spec: ClientSpec): string[]
  /** Read what the tool printed; throws a VirtlabError with a stable code on output it cannot read. */
  parse(output: string, argv?: readonly string[]): Parsed
}

/** iperf3 as a measurement tool: argv and parser from ../iperf3.ts, unchanged. */
import {type Iperf3ClientSpec, type Iperf3Result, type Iperf3ServerSpec, iperf3ClientArgv, iperf3ServerArgv, parseIperf3} from '../iperf3.js'
import type {MeasurementTool} from '../tool.js'

export const iperf3Tool: MeasurementTool<Iperf3ServerSpec, Iperf3ClientSpec, Iperf3Result> = {
  name: 'iperf3',
  program: 'iperf3',
  measures: {
    summary: 'TCP or UDP throughput between two endpoints (iperf3 -J), UDP loss and jitter, the CPU of both ends',
    figures: ['gbps', 'sentGbps', 'retransmits', 'lossPct', 'jitterMs', 'pps', 'cpu'],
  },
  serverArgv: iperf3ServerArgv,
  clientArgv: iperf3ClientArgv,
  parse: parseIperf3,
}

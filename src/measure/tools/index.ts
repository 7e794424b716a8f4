/**
 * The measurement-tool registry. The Record over the result schema's tool names makes the compiler
 * refuse a name without a tool here (and a tool the schema does not know). Adding a tool: one file
 * in this folder (its argv and what it measures), its parser next to ../iperf3.ts, an entry here
 * and its name in result-schema.ts `ToolNameSchema`.
 */
import type {ToolName} from '../tool.js'
import {iperf3Tool} from './iperf3.js'
import {testpmdTool} from './testpmd.js'

export {iperf3Tool} from './iperf3.js'
export {testpmdTool} from './testpmd.js'

export const TOOLS = {
  iperf3: iperf3Tool,
  testpmd: testpmdTool,
} as const satisfies Record<ToolName, {name: ToolName}>

export function toolNames(): ToolName[] {
  return Object.keys(TOOLS) as ToolName[]
}

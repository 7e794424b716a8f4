/**
 * Colour for terminal output: on only when the stream is a terminal, NO_COLOR is not set
 * (https://no-color.org: "when present and not an empty string ... prevents the addition of ANSI
 * color"), and TERM is not "dumb"; FORCE_COLOR (not "0") turns it on for a pipe.
 */
export type Color = 'green' | 'yellow' | 'red' | 'dim' | 'bold'

export interface Painter {
  enabled: boolean
  paint(text: string, color: Color): string
}

export function colorEnabled(stream: {isTTY?: boolean | undefined}, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true
  if (env.TERM === 'dumb') return false
  return stream.isTTY === true
}

/** SGR open/close pairs (ECMA-48); util.styleText is not used: in Node 20 it decides on its own whether to colour. */
const SGR: Record<Color, [number, number]> = {green: [32, 39], yellow: [33, 39], red: [31, 39], dim: [2, 22], bold: [1, 22]}

export function painter(enabled: boolean): Painter {
  return {enabled, paint: (text, color) => (enabled && text !== '' ? `\u001b[${SGR[color][0]}m${text}\u001b[${SGR[color][1]}m` : text)}
}

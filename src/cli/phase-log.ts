/**
 * A plain progress renderer for commands that run phases rather than a plan (host create/start/
 * stop): one line per phase start and end on stderr, with the phase's time; nothing with --json.
 */
import type {ProgressEvent, ProgressSink} from '../app/context.js'

export function phaseLog(json: boolean, write: (line: string) => void): ProgressSink {
  return (event: ProgressEvent) => {
    if (json) return
    const detail = event.detail ? ` (${event.detail})` : ''
    if (event.type === 'step-start') write(`  … ${event.title}`)
    else if (event.type === 'step-done') write(`  ✓ ${event.title}${detail}`)
    else if (event.type === 'step-skip') write(`  = ${event.title}${detail}`)
    else if (event.type === 'info') write(`    ${event.title}${detail}`)
    else if (event.type === 'warn') write(`  ! ${event.title}${detail}`)
  }
}

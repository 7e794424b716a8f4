/**
 * Progress events: the core never prints; it reports what it does to a ProgressSink that the
 * command renders (src/ui/progress.ts). Defined here, at the seam, so the core (host/, apply/,
 * doctor/, guest/) and ui/ need nothing from app/.
 */
export interface ProgressEvent {
  type: 'step-start' | 'step-done' | 'step-skip' | 'step-fail' | 'undo-start' | 'undo-done' | 'undo-fail' | 'info' | 'warn' | 'command'
  stepId?: string
  title: string
  detail?: string
}

export type ProgressSink = (event: ProgressEvent) => void

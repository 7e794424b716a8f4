/**
 * Progress rendering for up/down: the executor emits ProgressEvents, a view turns them into
 *   - tty:   a listr2 task tree (phases -> steps), a VIEW only: the executor owns undo;
 *   - plain: timestamped lines, `2026-11-22T10:00:00Z [up] step 3/12 ok  Create namespace vl-x`;
 *   - json:  one JSON object per event (the result JSON goes to stdout, these to stderr).
 * With verbose, every command run is shown. Everything here writes to the given stream (stderr).
 */
import {color, DefaultRenderer, figures, Listr, ListrDefaultRendererLogLevels, ListrLogger, ProcessOutput, SimpleRenderer, type ListrTask, type ListrTaskWrapper} from 'listr2'

import type {ProgressEvent, ProgressSink} from '../host/progress.js'
import type {Phase, Plan} from '../plan/step.js'

export type ProgressMode = 'tty' | 'plain' | 'json'

export interface Writable {
  write(text: string): unknown
}

export interface ProgressViewOptions {
  /** 'up', 'down': the tag on every line. */
  command: string
  mode: ProgressMode
  verbose: boolean
  stream: Writable
  /** For tests. */
  clock?: () => Date
}

export interface ProgressView {
  sink: ProgressSink
  /** The plan about to run (numbers steps; builds the listr tree). */
  begin(plan: Plan): void
  /** Flush and stop (marks steps that never ran). */
  end(): Promise<void>
}

export function chooseMode(json: boolean, isTTY: boolean | undefined): ProgressMode {
  if (json) return 'json'
  return isTTY ? 'tty' : 'plain'
}

export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export function createProgressView(options: ProgressViewOptions): ProgressView {
  if (options.mode === 'tty') return new ListrView(options)
  return new LineView(options)
}

/**
 * Step numbers come from the plan: step n of N is the plan's n-th step, whatever order the events
 * arrive in. Step events for work outside the plan (the guest image cache before the plan, for
 * example) get no number.
 */
class Numbering {
  total = 0
  private readonly numbers = new Map<string, number>()

  plan(plan: Plan): void {
    this.numbers.clear()
    plan.steps.forEach((step, i) => this.numbers.set(step.id, i + 1))
    this.total = plan.steps.length
  }

  of(stepId: string | undefined): number | undefined {
    return stepId === undefined ? undefined : this.numbers.get(stepId)
  }
}

const WORD: Partial<Record<ProgressEvent['type'], string>> = {
  'step-start': 'run ',
  'step-done': 'ok  ',
  'step-skip': 'skip',
  'step-fail': 'FAIL',
  'undo-start': 'undo',
  'undo-done': 'undone',
  'undo-fail': 'UNDO FAILED',
}

class LineView implements ProgressView {
  private readonly numbering = new Numbering()
  private readonly clock: () => Date
  readonly sink: ProgressSink

  constructor(private readonly options: ProgressViewOptions) {
    this.clock = options.clock ?? (() => new Date())
    this.sink = (event) => this.onEvent(event)
  }

  begin(plan: Plan): void {
    this.numbering.plan(plan)
    if (this.options.mode === 'json') this.emitJson({type: 'info', title: `plan: ${plan.steps.length} steps`, lab: plan.lab, driver: plan.driver})
    else this.line(`plan: ${plan.steps.length} steps (${plan.lab}, driver ${plan.driver})`)
  }

  async end(): Promise<void> {}

  private onEvent(event: ProgressEvent): void {
    if (event.type === 'command' && !this.options.verbose) return
    const isStep = event.type.startsWith('step-')
    const index = isStep ? this.numbering.of(event.stepId) : undefined
    if (this.options.mode === 'json') {
      this.emitJson({...event, ...(index === undefined ? {} : {index, total: this.numbering.total})})
      return
    }
    const detail = event.detail ? ` (${event.detail})` : ''
    if (isStep && index !== undefined) {
      this.line(`step ${index}/${this.numbering.total} ${WORD[event.type] ?? event.type} ${event.title}${detail}`)
    } else if (event.type === 'command') {
      this.line(`  $ ${event.title}`)
    } else if (event.type === 'info') {
      this.line(`${event.title}${detail}`)
    } else if (event.type === 'warn') {
      this.line(`WARNING ${event.title}${detail}`)
    } else {
      this.line(`${WORD[event.type] ?? event.type} ${event.title}${detail}`)
    }
  }

  private line(text: string): void {
    this.options.stream.write(`${isoSeconds(this.clock())} [${this.options.command}] ${text}\n`)
  }

  private emitJson(body: Record<string, unknown>): void {
    this.options.stream.write(JSON.stringify({time: isoSeconds(this.clock()), command: this.options.command, ...body}) + '\n')
  }
}

type Ctx = Record<string, never>

type StepOutcome = {kind: 'done'} | {kind: 'skip'; reason: string} | {kind: 'fail'; message: string}

interface Deferred {
  promise: Promise<StepOutcome>
  resolve: (outcome: StepOutcome) => void
  settled: boolean
}

function deferred(): Deferred {
  let resolve: (o: StepOutcome) => void = () => {}
  const promise = new Promise<StepOutcome>((r) => {
    resolve = r
  })
  const d: Deferred = {promise, resolve: (o) => {
    if (d.settled) return
    d.settled = true
    resolve(o)
  }, settled: false}
  return d
}

const PHASE_TITLE: Record<Phase, string> = {
  host: 'Host',
  devices: 'Devices',
  switch: 'Switches',
  vm: 'VMs',
  guest: 'Guests',
}

/**
 * The listr2 tree: one parent per phase, one task per step, each waiting for its step's outcome.
 * Events before begin() and undo events are written as lines (listr2 rolls back only a failing
 * task, so the executor's rollback is shown after the tree).
 */
class ListrView implements ProgressView {
  private readonly outcomes = new Map<string, Deferred>()
  private readonly tasks = new Map<string, ListrTaskWrapper<Ctx, typeof DefaultRenderer, typeof SimpleRenderer>>()
  private readonly after: string[] = []
  private running: Promise<unknown> | undefined
  readonly sink: ProgressSink

  constructor(private readonly options: ProgressViewOptions) {
    this.sink = (event) => this.onEvent(event)
  }

  begin(plan: Plan): void {
    for (const step of plan.steps) this.outcomes.set(step.id, deferred())
    const phases = [...new Set(plan.steps.map((s) => s.phase))]
    const stepTask = (step: Plan['steps'][number]): ListrTask<Ctx> => ({
      title: step.title,
      rendererOptions: {persistentOutput: this.options.verbose},
      task: async (_ctx, task) => {
        this.tasks.set(step.id, task)
        const outcome = await (this.outcomes.get(step.id) as Deferred).promise
        // The row keeps the step's title; the reason or the error is printed under it.
        if (outcome.kind === 'skip') task.skip(outcome.reason)
        else if (outcome.kind === 'fail') throw new Error(outcome.message)
      },
    })
    const phaseTasks: ListrTask<Ctx>[] = phases.map((phase) => ({
      title: PHASE_TITLE[phase],
      task: (_ctx, parent) => parent.newListr(plan.steps.filter((s) => s.phase === phase).map(stepTask), {concurrent: false, exitOnError: false}),
    }))
    const list = new Listr<Ctx>(phaseTasks, {
      concurrent: false,
      exitOnError: false,
      // up.ts owns SIGINT/SIGTERM (abort + rollback); the view must not react to them.
      registerSignalListeners: false,
      // The caller chose this view because stderr is a terminal; draw there even when stdout is piped.
      forceTTY: true,
      fallbackRendererCondition: false,
      rendererOptions: {
        collapseSubtasks: false,
        collapseSkips: false,
        collapseErrors: false,
        // A skipped step is not a warning: ↓ and dim (listr2's default for it is a yellow ⚠).
        icon: {[ListrDefaultRendererLogLevels.SKIPPED_WITHOUT_COLLAPSE]: figures.arrowDown},
        color: {[ListrDefaultRendererLogLevels.SKIPPED_WITHOUT_COLLAPSE]: (text?: string) => color.dim(text ?? '')},
        // Draw on the given stream (stderr): stdout is kept for the result.
        logger: new ListrLogger({useIcons: true, toStderr: [], processOutput: new ProcessOutput(this.options.stream as NodeJS.WriteStream, this.options.stream as NodeJS.WriteStream)}),
      },
    })
    this.running = list.run().catch(() => undefined)
  }

  async end(): Promise<void> {
    for (const d of this.outcomes.values()) d.resolve({kind: 'skip', reason: 'not run'})
    await this.running
    for (const line of this.after) this.options.stream.write(line + '\n')
    this.after.length = 0
  }

  private onEvent(event: ProgressEvent): void {
    const d = event.stepId === undefined ? undefined : this.outcomes.get(event.stepId)
    const detail = event.detail ? ` (${event.detail})` : ''
    // Step events of work outside the plan (the image cache before it) are lines, like info.
    if (d === undefined && event.type.startsWith('step-')) {
      if (event.type !== 'step-start') this.line(`${WORD[event.type] ?? event.type} ${event.title}${detail}`)
      return
    }
    switch (event.type) {
      case 'step-done':
        d?.resolve({kind: 'done'})
        return
      case 'step-skip':
        d?.resolve({kind: 'skip', reason: event.detail ?? 'skipped'})
        return
      case 'step-fail':
        d?.resolve({kind: 'fail', message: event.detail ?? 'failed'})
        return
      case 'step-start':
        return
      case 'command': {
        if (!this.options.verbose) return
        const task = event.stepId === undefined ? undefined : this.tasks.get(event.stepId)
        if (task && this.outcomes.get(event.stepId as string)?.settled === false) task.output = `$ ${event.title}`
        else if (this.running === undefined || this.after.length > 0) this.write(`  $ ${event.title}`)
        else this.after.push(`  $ ${event.title}`)
        return
      }
      default: {
        this.line(event.type === 'warn' ? `WARNING ${event.title}${detail}` : `${WORD[event.type] ?? ''} ${event.title}${detail}`.trim())
      }
    }
  }

  /** Before the tree starts, print right away; while it runs, keep lines for after it. */
  private line(text: string): void {
    if (this.running === undefined) this.write(text)
    else this.after.push(text)
  }

  private write(text: string): void {
    this.options.stream.write(text + '\n')
  }
}

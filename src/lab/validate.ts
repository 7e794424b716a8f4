/**
 * validateLabText: the whole pure pipeline for one lab file's text.
 *   text checks -> YAML (positions, hostile-input limits) -> parameters and --set -> ${...}
 *   substitution -> JSON Schema (ajv, collapsed messages) -> semantic rules -> defaults.
 * Every problem of every stage that can run is reported; a model is returned only when there is none.
 */
import type {LabModel} from './model.js'
import {buildModel} from './defaults.js'
import {parameterValues, resolveParameters, substitute} from './params.js'
import {checkText, parseLabText} from './parse.js'
import {type LabProblem, ProblemSink} from './problems.js'
import {checkRules} from './rules.js'
import {checkSchema} from './schema-check.js'
import type {Lab} from './schema.js'

export type {LabProblem} from './problems.js'
export {formatProblem} from './problems.js'

export interface LabValidation {
  model?: LabModel
  problems: LabProblem[]
}

export function validateLabText(text: string, file: string, sets: Record<string, string> = {}): LabValidation {
  const early = new ProblemSink(file, undefined)
  if (!checkText(text, early)) return {problems: early.sorted()}
  const parsed = parseLabText(text, early)
  if (parsed === undefined) return {problems: early.sorted()}

  const sink = new ProblemSink(file, parsed.map)
  const params = resolveParameters(parsed.value, sets, sink)
  const {value, origins, unresolved} = substitute(parsed.value, params, sink)
  checkSchema(value, {sink, map: parsed.map, text: parsed.source, origins, skip: unresolved})
  checkRules(value, sink)
  // A value that was not validated never reaches the compiler: a reference the substitution could
  // not resolve must have been reported (its parameter's declaration, or the reference itself).
  if (sink.problems.length === 0) {
    for (const path of unresolved) sink.at({line: 1, column: 1}, [], `internal: the parameter reference at ${path} was not resolved`, 'check the parameters: section')
  }
  const problems = sink.sorted()
  if (problems.length > 0) return {problems}
  return {model: buildModel(value as unknown as Lab, file, parameterValues(params.declared)), problems: []}
}

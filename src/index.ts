export {VirtlabError} from './errors.js'
export type {Lab} from './lab/schema.js'
export type {LabModel} from './lab/model.js'
export type {Plan, Step} from './plan/step.js'

import {labSchema} from '../app/lab-files.js'
import {VirtlabCommand} from '../cli/base-command.js'

export default class Schema extends VirtlabCommand {
  static override description = 'Print the JSON Schema of lab files as editors see them (the same as schema/lab.schema.json): ${param} references are accepted wherever a parameter may stand; virtlab itself validates the substituted values'
  static override examples = ['<%= config.bin %> schema > lab.schema.json']

  async run(): Promise<Record<string, unknown>> {
    await this.parse(Schema)
    const schema = await labSchema()
    if (!this.jsonEnabled()) this.log(JSON.stringify(schema, null, 2))
    return schema
  }
}

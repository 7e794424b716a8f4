import {labSchema} from '../app/lab-files.js'
import {VirtlabCommand} from '../cli/base-command.js'

export default class Schema extends VirtlabCommand {
  static override description = 'Print the JSON Schema of lab files (the same as schema/lab.schema.json, for editors and CI)'
  static override examples = ['<%= config.bin %> schema > lab.schema.json']

  async run(): Promise<Record<string, unknown>> {
    await this.parse(Schema)
    const schema = await labSchema()
    if (!this.jsonEnabled()) this.log(JSON.stringify(schema, null, 2))
    return schema
  }
}

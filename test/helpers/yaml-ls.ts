/**
 * yaml-language-server (the npm package editors run) driven through its language-service API,
 * exactly as an editor would see a file: the `# yaml-language-server: $schema=...` modeline is
 * resolved relative to the document and the schema is read from disk. Returns the diagnostics.
 */
import {readFile} from 'node:fs/promises'
import {dirname, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {TextDocument} from 'vscode-languageserver-textdocument'
import {getLanguageService} from 'yaml-language-server'

export interface EditorDiagnostic {
  line: number
  column: number
  message: string
  severity: number | undefined
  source: string | undefined
}

/** yaml-language-server caches a document's schema association by URI and version: every call gets a new version. */
let version = 0

export async function yamlDiagnostics(file: string, text?: string): Promise<EditorDiagnostic[]> {
  const service = getLanguageService({
    schemaRequestService: async (uri: string) => readFile(uri.startsWith('file:') ? fileURLToPath(uri) : uri, 'utf8'),
    workspaceContext: {resolveRelativePath: (relative: string, resource: string) => pathToFileURL(resolve(dirname(fileURLToPath(resource)), relative)).toString()},
  })
  service.configure({validate: true, hover: false, completion: false, format: false, isKubernetes: false, schemas: [], customTags: []})
  const content = text ?? await readFile(file, 'utf8')
  const document = TextDocument.create(pathToFileURL(file).toString(), 'yaml', ++version, content)
  const diagnostics = await service.doValidation(document, false)
  return diagnostics.map((d) => ({line: d.range.start.line + 1, column: d.range.start.character + 1, message: d.message, severity: d.severity, source: d.source}))
}

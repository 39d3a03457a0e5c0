/**
 * YAML parsing that keeps positions, so every problem in a policies file can be
 * reported as `file:line: message`.
 */
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml'

export interface YamlSource {
  file: string
  doc: Document
  lineCounter: LineCounter
}

export interface YamlParseProblem { line: number, message: string }

export function parseYamlSource (file: string, text: string): { source: YamlSource, problems: YamlParseProblem[] } {
  const lineCounter = new LineCounter()
  // uniqueKeys: a product or policy written twice is an error, not a silent override.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false })
  const problems = [...doc.errors, ...doc.warnings].map(e => ({
    line: lineCounter.linePos(e.pos[0]).line,
    message: e.code === 'DUPLICATE_KEY' ? `duplicate key: ${e.message.replace(/^.*?:\s*/, '')}` : e.message.split('\n')[0] ?? e.message
  }))
  return { source: { file, doc, lineCounter }, problems }
}

/**
 * The line of the node at `path` (or of the key `key` inside it, when given); falls
 * back to the nearest existing ancestor, then line 1.
 */
export function lineAt (source: YamlSource, path: ReadonlyArray<string | number>, key?: string): number {
  for (let depth = path.length; depth >= 0; depth--) {
    const prefix = path.slice(0, depth)
    const node = (prefix.length === 0 ? source.doc.contents : source.doc.getIn(prefix, true)) as Node | null | undefined
    if (node === null || node === undefined) continue
    if (key !== undefined && depth === path.length && isMap(node)) {
      const pair = node.items.find(p => isScalar(p.key) && String(p.key.value) === key)
      const keyNode = pair?.key as Node | undefined
      if (keyNode?.range !== undefined && keyNode.range !== null) return source.lineCounter.linePos(keyNode.range[0]).line
    }
    if (node.range !== undefined && node.range !== null) {
      // For a mapping value, report the line of its key: that is what a reader looks for.
      if (depth > 0) {
        const parent = (depth === 1 ? source.doc.contents : source.doc.getIn(path.slice(0, depth - 1), true)) as Node | null | undefined
        if (parent !== null && parent !== undefined && isMap(parent)) {
          const last = path[depth - 1]
          const pair = parent.items.find(p => isScalar(p.key) && String(p.key.value) === String(last))
          const keyNode = pair?.key as Node | undefined
          if (keyNode?.range !== undefined && keyNode.range !== null) return source.lineCounter.linePos(keyNode.range[0]).line
        }
      }
      return source.lineCounter.linePos(node.range[0]).line
    }
  }
  return 1
}

/** JSON pointer (as in ajv's instancePath) to path segments. */
export function pointerToPath (pointer: string): string[] {
  if (pointer === '') return []
  return pointer.slice(1).split('/').map(s => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

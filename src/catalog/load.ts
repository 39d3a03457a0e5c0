/**
 * Loads the policies folder (CONTRACT §3): every `products/*.yaml`, the JSON Schemas
 * they name, and their policies. Schemas are compiled once here; nothing on the hot
 * path parses or compiles. Problems are collected, not thrown one by one, so that
 * `streamshare policy check` can list them all as `file:line: message`.
 */
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { Ajv } from 'ajv'
import type { ValidateFunction } from 'ajv/dist/2020.js'
import { productSchemaAjv } from './schema-ajv.js'
import { productFileSchema } from './product-file-schema.js'
import { checkFieldAction, parseFieldPath } from './policy-spec.js'
import { lineAt, parseYamlSource, pointerToPath, type YamlSource } from './yaml-source.js'
import { canonicalJson } from '../policy/canonical-json.js'
import { compilePolicy, type PolicyProblem, type ProductContext } from '../policy/compile.js'
import type { Catalog, CatalogProblem, FieldActionSpec, PolicyDefinition, Product, ProductSpec } from './types.js'

export { canonicalJson }

const MAX_FILE_BYTES = 1024 * 1024

export class CatalogInvalidError extends Error {
  readonly problems: CatalogProblem[]
  constructor (problems: CatalogProblem[]) {
    super(`policies folder is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
      problems.map(formatProblem).join('\n'))
    this.name = 'CatalogInvalidError'
    this.problems = problems
  }
}

export function formatProblem (p: CatalogProblem): string {
  return `${p.file}:${p.line}: ${p.message}`
}

const validateProductFile = new Ajv({ allErrors: true, strict: true }).compile(productFileSchema)

function shortHash (text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12)
}

interface SchemaCompiler {
  load (file: string, fromFile: string, source: YamlSource, key: string): Promise<{ schema: Record<string, unknown>, validate: ValidateFunction } | undefined>
}

function schemaCompiler (dir: string, problems: CatalogProblem[]): SchemaCompiler {
  // One ajv instance per load: a reload gets fresh compiled functions, and a schema
  // shared by two products is compiled once.
  const ajv = productSchemaAjv()
  const compiled = new Map<string, Promise<{ schema: Record<string, unknown>, validate: ValidateFunction } | undefined>>()
  return {
    async load (file, fromFile, source, key) {
      const relFile = path.relative(dir, fromFile)
      const line = lineAt(source, [key])
      const absolute = path.resolve(path.dirname(fromFile), file)
      if (path.relative(dir, absolute).startsWith('..')) {
        problems.push({ file: relFile, line, message: `${key} "${file}" is outside the policies folder` })
        return undefined
      }
      let pending = compiled.get(absolute)
      if (pending === undefined) {
        pending = (async () => {
          let schema: Record<string, unknown>
          try {
            const text = await readFile(absolute, 'utf8')
            schema = JSON.parse(text) as Record<string, unknown>
          } catch (err) {
            const reason = err instanceof SyntaxError ? `is not valid JSON (${err.message})` : 'cannot be read'
            problems.push({ file: relFile, line, message: `${key} "${file}" ${reason}` })
            return undefined
          }
          if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
            problems.push({ file: relFile, line, message: `${key} "${file}" is not a JSON Schema object` })
            return undefined
          }
          try {
            return { schema, validate: ajv.compile(schema) }
          } catch (err) {
            problems.push({ file: relFile, line, message: `${key} "${file}" is not a valid JSON Schema: ${(err as Error).message}` })
            return undefined
          }
        })()
        compiled.set(absolute, pending)
      }
      return await pending
    }
  }
}

function problemLine (source: YamlSource, name: string, at: PolicyProblem['at']): number {
  if (at === 'where' || at === 'key') return lineAt(source, ['policies', name, at])
  if (at === 'policy') return lineAt(source, ['policies'], name)
  return lineAt(source, ['policies', name, 'fields'], at.field)
}

/**
 * Checks every policy of a product: syntax first (paths, actions), then, when the
 * product schema loaded, everything that needs it (paths and types against the
 * schema, the `where` filter) by compiling the policy. `product` is undefined when
 * the schema could not be loaded: only the syntax is checked then.
 */
function checkPolicies (spec: ProductSpec, source: YamlSource, relFile: string, problems: CatalogProblem[], product: ProductContext | undefined): Map<string, PolicyDefinition> {
  const policies = new Map<string, PolicyDefinition>()
  for (const [name, policy] of Object.entries(spec.policies)) {
    let ok = true
    const fields: Array<[string, FieldActionSpec]> = []
    for (const [fieldPath, action] of Object.entries(policy.fields)) {
      const line = lineAt(source, ['policies', name, 'fields'], fieldPath)
      const parsed = parseFieldPath(fieldPath)
      if (typeof parsed === 'string') { problems.push({ file: relFile, line, message: `policy ${name}: ${parsed}` }); ok = false }
      const actionProblem = checkFieldAction(action)
      if (actionProblem !== undefined) { problems.push({ file: relFile, line, message: `policy ${name}: field ${fieldPath}: ${actionProblem}` }); ok = false }
      fields.push([fieldPath, action])
    }
    if (!ok || product === undefined) continue
    const mode = policy.mode ?? 'allow'
    const headers = policy.headers ?? []
    // `key` joins the normalised text only when written, so versions of policies
    // that do not use it stay what they were.
    const normalised = { product: spec.name, name, mode, fields: Object.fromEntries(fields), where: policy.where, headers: [...headers].sort(), key: policy.key }
    const version = shortHash(canonicalJson(normalised))
    const compiled = compilePolicy({ name, product: spec.name, version, mode, fields, where: policy.where, headers, key: policy.key }, product)
    if (!compiled.ok) {
      for (const p of compiled.problems) {
        const prefix = p.at === 'where' ? 'where: ' : p.at === 'key' ? 'key: ' : ''
        problems.push({ file: relFile, line: problemLine(source, name, p.at), message: `policy ${name}: ${prefix}${p.message}` })
      }
      continue
    }
    policies.set(name, {
      name,
      product: spec.name,
      mode,
      description: policy.description ?? '',
      fields,
      where: policy.where,
      headers,
      keyAction: compiled.policy.keyAction,
      version,
      file: relFile,
      line: lineAt(source, ['policies'], name),
      compiled: compiled.policy
    })
  }
  return policies
}

async function loadProductFile (dir: string, file: string, compiler: SchemaCompiler, problems: CatalogProblem[]): Promise<Product | undefined> {
  const relFile = path.relative(dir, file)
  let text: string
  try {
    const buffer = await readFile(file)
    if (buffer.length > MAX_FILE_BYTES) { problems.push({ file: relFile, line: 1, message: `file is larger than ${MAX_FILE_BYTES} bytes` }); return undefined }
    text = buffer.toString('utf8')
  } catch {
    problems.push({ file: relFile, line: 1, message: 'cannot read file' })
    return undefined
  }
  const { source, problems: yamlProblems } = parseYamlSource(relFile, text)
  if (yamlProblems.length > 0) {
    for (const p of yamlProblems) problems.push({ file: relFile, line: p.line, message: p.message })
    return undefined
  }
  const spec = source.doc.toJS({ maxAliasCount: 50 }) as unknown
  if (!validateProductFile(spec)) {
    for (const e of validateProductFile.errors ?? []) {
      const at = pointerToPath(e.instancePath)
      const extra = e.params as { additionalProperty?: string, missingProperty?: string, propertyName?: string }
      const key = extra.additionalProperty ?? extra.missingProperty ?? extra.propertyName
      const where = e.instancePath === '' ? '' : `${at.join('.')}: `
      let message = `${where}${e.message ?? 'invalid'}`
      if (extra.additionalProperty !== undefined) message = `${where}unknown key "${extra.additionalProperty}"`
      if (extra.missingProperty !== undefined) message = `${where}missing key "${extra.missingProperty}"`
      if (e.keyword === 'propertyNames' || extra.propertyName !== undefined) message = `${where}invalid policy name "${extra.propertyName ?? ''}"`
      if (e.keyword === 'pattern') message = `${where}invalid value (must match ${(e.params as { pattern: string }).pattern})`
      problems.push({ file: relFile, line: lineAt(source, at, extra.missingProperty === undefined ? key : undefined), message })
    }
    return undefined
  }
  const product = spec as unknown as ProductSpec
  const expectedName = path.basename(file).replace(/\.ya?ml$/, '')
  if (product.name !== expectedName) {
    problems.push({ file: relFile, line: lineAt(source, ['name']), message: `product name "${product.name}" must match the file name "${expectedName}"` })
  }
  const schema = await compiler.load(product.schema, file, source, 'schema')
  const schemaFile = path.relative(dir, path.resolve(path.dirname(file), product.schema))
  const policies = checkPolicies(product, source, relFile, problems,
    schema === undefined ? undefined : { schema: schema.schema, schemaFile, keyFormat: product.key })
  const writeSchema = typeof product.write_schema === 'string'
    ? await compiler.load(product.write_schema, file, source, 'write_schema')
    : undefined
  if (schema === undefined || policies.size !== Object.keys(product.policies).length) return undefined
  if (typeof product.write_schema === 'string' && writeSchema === undefined) return undefined
  return {
    name: product.name,
    topic: product.topic,
    owner: product.owner,
    description: product.description,
    keyFormat: product.key,
    schema: schema.schema,
    schemaFile,
    validate: schema.validate,
    writeSchema: writeSchema?.schema,
    writeSchemaFile: typeof product.write_schema === 'string' ? path.relative(dir, path.resolve(path.dirname(file), product.write_schema)) : undefined,
    validateWrite: writeSchema?.validate,
    policies,
    file: relFile
  }
}

/** Loads and checks the folder; returns the catalog only when there is no problem. */
export async function checkCatalog (dir: string): Promise<{ catalog: Catalog | undefined, problems: CatalogProblem[] }> {
  const problems: CatalogProblem[] = []
  const productsDir = path.join(dir, 'products')
  let names: string[]
  try {
    names = (await readdir(productsDir)).filter(n => /\.ya?ml$/.test(n)).sort()
  } catch {
    return { catalog: undefined, problems: [{ file: 'products', line: 0, message: `cannot read ${productsDir}` }] }
  }
  if (names.length === 0) problems.push({ file: 'products', line: 0, message: 'no product files (products/*.yaml)' })
  const compiler = schemaCompiler(dir, problems)
  const loaded = await Promise.all(names.map(async n => await loadProductFile(dir, path.join(productsDir, n), compiler, problems)))
  const products = new Map<string, Product>()
  const topics = new Map<string, string>()
  for (const product of loaded) {
    if (product === undefined) continue
    const other = products.get(product.name)
    if (other !== undefined) {
      problems.push({ file: product.file, line: 1, message: `duplicate product name "${product.name}" (also in ${other.file})` })
      continue
    }
    const topicOwner = topics.get(product.topic)
    if (topicOwner !== undefined) {
      problems.push({ file: product.file, line: 1, message: `topic "${product.topic}" is already used by product "${topicOwner}"` })
      continue
    }
    products.set(product.name, product)
    topics.set(product.topic, product.name)
  }
  problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
  if (problems.length > 0) return { catalog: undefined, problems }
  const version = shortHash([...products.values()].map(p => `${p.name}:${p.topic}:${canonicalJson(p.schema)}:${[...p.policies.values()].map(x => x.version).join(',')}`).join('|'))
  return { catalog: { products, version, dir, loadedAt: new Date() }, problems }
}

export async function loadCatalog (dir: string): Promise<Catalog> {
  const { catalog, problems } = await checkCatalog(dir)
  if (catalog === undefined) throw new CatalogInvalidError(problems)
  return catalog
}

/**
 * The one way product schemas are compiled: the catalog loader and the view workers
 * (src/engine/view-worker.ts) must check records with the same rules and formats.
 */
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { dateTimeFormat } from './date-time-format.js'

// ajv-formats is CommonJS with a default export; under NodeNext it arrives wrapped.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

export function productSchemaAjv (): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allErrors: false, allowUnionTypes: true })
  addFormats(ajv)
  // Same answers, without the regexes and allocations: it runs once per record.
  ajv.addFormat('date-time', dateTimeFormat)
  return ajv
}

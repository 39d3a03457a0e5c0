import t from 'tap'
import fc from 'fast-check'
import { jsonPrefix, recordPrefix } from '../../src/engine/messages.js'

t.test('recordPrefix writes exactly what JSON.stringify of the envelope would', async t => {
  const json = fc.jsonValue({ maxDepth: 3 })
  fc.assert(fc.property(
    fc.string(), fc.nat({ max: 10_000 }), fc.maxSafeNat(), fc.integer({ min: 0, max: 8.64e15 }),
    fc.option(json, { nil: undefined }), json,
    fc.dictionary(fc.string(), fc.string()), fc.string(),
    (product, partition, offset, timestamp, key, value, headers, version) => {
      const expected = jsonPrefix({ type: 'record', product, partition, offset, timestamp: new Date(timestamp).toISOString(), key, value, headers, policy_version: version })
      return recordPrefix(JSON.stringify(product), partition, offset, timestamp, key, value, headers, version) === expected
    }
  ), { numRuns: 2000 })
})

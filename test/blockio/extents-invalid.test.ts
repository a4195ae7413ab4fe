import { describe, expect, it } from 'vitest'
import { MAX_EXTENT_COUNT, MAX_EXTENTS_INPUT_BYTES, parseChangedExtents } from '../../blockio/extents.js'

const BLOCK = 4096
const VOLUME = 10 * BLOCK + 100
const options = { volumeSize: VOLUME, blockSize: BLOCK }

function refusal(input: unknown): { code: string; message: string } {
  try {
    parseChangedExtents(input, options)
  } catch (error) {
    return error as { code: string; message: string }
  }
  throw new Error(`accepted ${JSON.stringify(input)?.slice(0, 200)}`)
}

function expectRefused(input: unknown, ...mentions: string[]): void {
  const error = refusal(input)
  expect(error.code).toBe('BLOCKIO_EXTENTS_INVALID')
  for (const mention of mentions) expect(error.message).toContain(mention)
}

describe('parseChangedExtents refuses bad reports with EXTENTS_INVALID', () => {
  it('refuses an extent past the end of the volume, naming it', () => {
    expectRefused(
      {
        version: 1,
        extents: [
          { start: 0, length: 1 },
          { start: 0, length: 1 },
          { start: VOLUME, length: 1 },
        ],
      },
      'extents[2]',
      'past the end',
    )
    expectRefused({ ranges: [{ byteOffset: VOLUME - 1, byteLength: 2 }] }, 'ranges[0]')
    expectRefused(
      { ChangedByteOffsets: [0, 2 * VOLUME], ChangedByteLengths: [1, 1] },
      'ChangedByteOffsets[1]',
    )
    expectRefused(
      { startOffset: 0, length: VOLUME, changedArea: [{ start: VOLUME + 5, length: 0 }] },
      'changedArea[0]',
    )
  })

  it('refuses VMware extents outside their queried region, and a region past the volume', () => {
    expectRefused(
      { startOffset: BLOCK, length: BLOCK, changedArea: [{ start: 0, length: 10 }] },
      'changedArea[0]',
      'outside',
    )
    expectRefused(
      [
        { startOffset: 0, length: BLOCK, changedArea: [] },
        {
          startOffset: BLOCK,
          length: BLOCK,
          changedArea: [
            { start: BLOCK, length: BLOCK },
            { start: 3 * BLOCK, length: 1 },
          ],
        },
      ],
      '[1].changedArea[1]',
    )
    expectRefused({ startOffset: 0, length: VOLUME + 1 }, 'startOffset + length')
  })

  it('refuses numbers that are negative, fractional, unsafe, strings, null or missing, naming the field', () => {
    const bad: unknown[] = [
      -1,
      0.5,
      2 ** 53,
      '4096',
      null,
      undefined,
      true,
      Number.NaN,
      Number.POSITIVE_INFINITY,
    ]
    for (const value of bad) {
      expectRefused(
        {
          version: 1,
          extents: [
            { start: 0, length: 1 },
            { start: value, length: 1 },
          ],
        },
        'extents[1].start',
      )
      expectRefused({ ranges: [{ byteOffset: 0, byteLength: value }] }, 'ranges[0].byteLength')
      expectRefused({ startOffset: value, length: 1 }, 'startOffset')
    }
    // A u64 above 2^53 in JSON text cannot be carried exactly and is refused, not rounded.
    expectRefused('{"version":1,"extents":[{"start":18446744073709551615,"length":1}]}', 'extents[0].start')
  })

  it('refuses text that is not JSON', () => {
    for (const text of ['', '{', 'not json', '{"version":1,"extents":[}', "{'a':1}"]) {
      expectRefused(text, 'not valid JSON')
    }
  })

  it('refuses documents of no known form', () => {
    for (const input of [
      {},
      { foo: 1 },
      42,
      null,
      true,
      '"a string"',
      '42',
      [],
      [1, 2],
      [{ changedArea: [] }],
    ]) {
      expect(refusal(input).code).toBe('BLOCKIO_EXTENTS_INVALID')
    }
    expectRefused({ foo: 1 }, 'unknown report form')
  })

  it('refuses lists that are not arrays and entries that are not objects', () => {
    expectRefused({ version: 1, extents: {} }, 'extents is not an array')
    expectRefused({ version: 1 }, 'extents is not an array')
    expectRefused({ version: 1, extents: [5] }, 'extents[0] is not an object')
    expectRefused({ ranges: 'x' }, 'ranges is not an array')
    expectRefused({ ranges: [[1, 2]] }, 'ranges[0] is not an object')
    expectRefused({ startOffset: 0, length: VOLUME, changedArea: [null] }, 'changedArea[0] is not an object')
    expectRefused({ ChangedByteOffsets: [0] }, 'ChangedByteLengths is not an array')
  })

  it('refuses Hyper-V output arrays of different lengths', () => {
    expectRefused({ ChangedByteOffsets: [0, 10], ChangedByteLengths: [1] }, '2 entries', '1')
  })

  it('refuses another generic version, a missing version and a report for another volume size', () => {
    expectRefused({ version: 2, extents: [] }, 'version 2', 'version 1')
    expectRefused({ extents: [] }, 'needs "version": 1')
    expectRefused({ version: '1', extents: [] }, 'version "1"')
    expectRefused({ version: 1, volumeSize: VOLUME + 1, extents: [] }, `${VOLUME + 1}`, `${VOLUME}`)
  })

  it('refuses reports over the documented size and count limits', () => {
    expectRefused(' '.repeat(MAX_EXTENTS_INPUT_BYTES + 1), 'larger than')
    const many = new Array<number>(MAX_EXTENT_COUNT + 1).fill(0)
    expectRefused({ ChangedByteOffsets: many, ChangedByteLengths: many }, `more than ${MAX_EXTENT_COUNT}`)
  })

  it('refuses bad options with INVALID_OPTION', () => {
    const report = { version: 1, extents: [] }
    expect(() => parseChangedExtents(report, { volumeSize: -1, blockSize: BLOCK })).toThrow(
      expect.objectContaining({ code: 'BLOCKIO_INVALID_OPTION' }),
    )
    expect(() => parseChangedExtents(report, { volumeSize: VOLUME, blockSize: 1000 })).toThrow(
      expect.objectContaining({ code: 'BLOCKIO_INVALID_OPTION' }),
    )
  })
})

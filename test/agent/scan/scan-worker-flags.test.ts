import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js'
import { afterAll, describe, expect, it } from 'vitest'
import { inputLayout } from '../../../agent/scan/scan-messages.js'
import { BlockFlag } from '../../../blockio/block-flags.js'
import { randomBytes, seeded, textBytes } from './helpers.js'
import { runBatch, workerPool } from './worker-task.js'

const BS = 4096
const pool = workerPool()
afterAll(() => pool.destroy())

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('scan worker: digests and flags', () => {
  it('flags all-zero blocks ZERO with the digest of their zero bytes, short last block included', async () => {
    const random = seeded(1)
    const blocks = [new Uint8Array(BS), randomBytes(random, BS), new Uint8Array(BS), new Uint8Array(1000)]
    const { records } = await runBatch(pool, blocks, { blockSize: BS, compress: true })
    expect(records.map((r) => r.flags)).toEqual([
      BlockFlag.ZERO | BlockFlag.CHANGED,
      expect.any(Number),
      BlockFlag.ZERO | BlockFlag.CHANGED,
      BlockFlag.ZERO | BlockFlag.CHANGED,
    ])
    expect(records[1]!.flags & BlockFlag.ZERO).toBe(0)
    for (const [k, r] of records.entries()) expect(hex(r.digest)).toBe(hex(nobleBlake3(blocks[k]!)))
    expect(hex(records[3]!.digest)).toBe(hex(nobleBlake3(new Uint8Array(1000))))
    for (const k of [0, 2, 3]) expect(records[k]!.payload).toBeUndefined()
  })

  it('a block with one non-zero byte, even the last, is not zero', async () => {
    const a = new Uint8Array(BS)
    a[BS - 1] = 1
    const b = new Uint8Array(BS)
    b[0] = 0x80
    const { records } = await runBatch(pool, [a, b], { blockSize: BS, compress: false })
    expect(records.map((r) => r.flags)).toEqual([BlockFlag.CHANGED, BlockFlag.CHANGED])
    expect(hex(records[0]!.digest)).toBe(hex(nobleBlake3(a)))
  })

  it('marks CHANGED only blocks whose digest or zero flag differ from the previous entry, or that have none', async () => {
    const random = seeded(2)
    const same = textBytes(random, BS)
    const edited = textBytes(random, BS)
    const zero = new Uint8Array(BS)
    const fresh = randomBytes(random, BS)
    const blocks = [same, edited, zero, zero, fresh]
    const previous = [
      { digest: nobleBlake3(same), flags: 0 },
      { digest: nobleBlake3(textBytes(random, BS)), flags: 0 },
      { digest: nobleBlake3(zero), flags: BlockFlag.ZERO },
      // Same digest but the previous entry was not flagged zero: treated as changed.
      { digest: nobleBlake3(zero), flags: 0 },
      null,
    ]
    const { records } = await runBatch(pool, blocks, { blockSize: BS, compress: true, previous })
    expect(records.map((r) => r.flags)).toEqual([
      0,
      BlockFlag.CHANGED,
      BlockFlag.ZERO,
      BlockFlag.ZERO | BlockFlag.CHANGED,
      BlockFlag.CHANGED | BlockFlag.RAW,
    ])
    // Unchanged blocks carry no payload even when the scan compresses.
    expect(records[0]!.payload).toBeUndefined()
    expect(records[1]!.payload).toBeDefined()
  })

  it('hands the same input buffer back, and the batch may fill only part of it', async () => {
    const random = seeded(4)
    const blocks = [randomBytes(random, BS), textBytes(random, 300)]
    const { records, input, sent } = await runBatch(pool, blocks, {
      blockSize: BS,
      compress: false,
      capacity: 8,
    })
    expect(sent.byteLength).toBe(0) // transferred, not copied
    expect(input.byteLength).toBe(inputLayout(8, BS).byteLength)
    expect(records).toHaveLength(2)
    expect(hex(records[1]!.digest)).toBe(hex(nobleBlake3(blocks[1]!)))
  })
})

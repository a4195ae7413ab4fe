import { describe, expect, it } from 'vitest'
import type { ScanInit } from '../../../agent/scan/scan-options.js'
import { runScan, scanVolume } from '../../../agent/scan/scan-pipeline.js'
import { BlockIndex } from '../../../blockio/block-index.js'
import { ChangedBlockMap } from '../../../blockio/changed-block-map.js'
import { MemoryBlockSource } from '../../../blockio/memory-block-source.js'
import {
  checkPayload,
  collect,
  comparable,
  makeImage,
  naiveScan,
  randomBytes,
  seeded,
  textBytes,
  withRawFlags,
} from './helpers.js'

// 4 KiB blocks and 1 MiB batches: 256 blocks per batch, so these images span several batches.
const BS = 4096
const BATCH = 1024 * 1024
const BLOCKS = 700

/** Rewrites about one block in `every` of a copy of `image` (text, random or zero), and grows or cuts it. */
function edit(image: Uint8Array, seed: number, every: number, newLength = image.length): Uint8Array {
  const random = seeded(seed)
  const out = new Uint8Array(newLength)
  out.set(image.subarray(0, Math.min(image.length, newLength)))
  if (newLength > image.length) out.set(textBytes(random, newLength - image.length), image.length)
  const count = Math.ceil(newLength / BS)
  for (let i = 0; i < count; i++) {
    if (random() * every >= 1) continue
    const start = i * BS
    const length = Math.min(BS, newLength - start)
    const kind = Math.floor(random() * 3)
    out.set(
      kind === 0
        ? new Uint8Array(length)
        : kind === 1
          ? textBytes(random, length)
          : randomBytes(random, length),
      start,
    )
  }
  return out
}

async function scanAndCheck(image: Uint8Array, init: ScanInit, read?: number[]) {
  const source = new MemoryBlockSource(image, BS)
  const scan = scanVolume(source, { batchBytes: BATCH, workers: 2, ...init })
  const records = await collect(scan)
  const expected = naiveScan(image, BS, init.previous, read)
  const expectedRecords =
    init.compress === true ? withRawFlags(expected.records, image, BS) : expected.records
  expect(comparable(records)).toEqual(comparable(expectedRecords))
  for (const record of records) checkPayload(record, image, BS, init.compress === true)
  expect(Buffer.from(scan.index.digests).equals(Buffer.from(expected.index.digests))).toBe(true)
  expect(Buffer.from(scan.index.flags).equals(Buffer.from(expected.index.flags))).toBe(true)
  expect(scan.index.volumeSize).toBe(image.length)
  return { scan, records }
}

describe('scan pipeline equals a naive single-threaded scan', () => {
  const image = makeImage(11, BS, BLOCKS, 1234)

  it('first scan, hash only: every block changed, short last block, stats add up', async () => {
    const { scan, records } = await scanAndCheck(image, { compress: false })
    expect(records).toHaveLength(BLOCKS + 1)
    const stats = scan.stats
    expect(stats).toMatchObject({
      blocksTotal: BLOCKS + 1,
      blocksRead: BLOCKS + 1,
      changedBlocks: BLOCKS + 1,
      bytesRead: image.length,
      payloadBytes: 0,
      rawBlocks: 0,
      blake3: '@napi-rs/blake-hash',
    })
    expect(stats.zeroBlocks).toBe(records.filter((r) => r.flags & 1).length)
    expect(stats.zeroBlocks).toBeGreaterThan(0)
  })

  it('first scan, compressing: payloads for changed non-zero blocks, RAW where LZ4 does not shrink', async () => {
    const { scan, records } = await scanAndCheck(image, { compress: true })
    const payloadBytes = records.reduce((sum, r) => sum + (r.payload?.length ?? 0), 0)
    expect(scan.stats.payloadBytes).toBe(payloadBytes)
    expect(scan.stats.rawBlocks).toBe(records.filter((r) => r.flags & 2).length)
    expect(scan.stats.rawBlocks).toBeGreaterThan(0)
  })

  it('second scan against the previous index flags only the edited blocks', async () => {
    const previous = (await runScan(new MemoryBlockSource(image, BS), { batchBytes: BATCH })).index
    const next = edit(image, 12, 20)
    const { scan } = await scanAndCheck(next, { compress: true, previous })
    expect(scan.stats.changedBlocks).toBeGreaterThan(0)
    expect(scan.stats.changedBlocks).toBeLessThan(BLOCKS / 5)
  })

  it('against a previous index of a smaller and of a larger volume (resize)', async () => {
    const previous = (await runScan(new MemoryBlockSource(image, BS), { batchBytes: BATCH })).index
    await scanAndCheck(edit(image, 13, 50, image.length + 5 * BS + 99), { compress: true, previous })
    await scanAndCheck(edit(image, 14, 50, image.length - 40 * BS - 7), { compress: false, previous })
  })

  it('change-tracking mode reads only the changed runs and keeps the other digests', async () => {
    const previous = (await runScan(new MemoryBlockSource(image, BS), { batchBytes: BATCH })).index
    const next = new Uint8Array(image)
    // Changed runs: scattered single blocks, a run across a batch boundary, the short last block.
    const runs = [
      { first: 3, count: 1 },
      { first: 17, count: 2 },
      { first: 240, count: 40 },
      { first: 600, count: 1 },
      { first: BLOCKS, count: 1 },
    ]
    const random = seeded(15)
    for (const run of runs) {
      for (let i = run.first; i < run.first + run.count; i++) {
        // Some blocks inside an extent are rewritten with the same bytes: not CHANGED.
        if (random() < 0.7) next.set(textBytes(random, Math.min(BS, next.length - i * BS)), i * BS)
      }
    }
    const changed = new ChangedBlockMap(BLOCKS + 1, runs)
    const source = new MemoryBlockSource(next, BS)
    let reads = 0
    const watched = Object.assign(Object.create(source) as MemoryBlockSource, {
      read: (first: number, count: number, target: Uint8Array) => {
        reads += count
        return source.read(first, count, target)
      },
    })
    const scan = scanVolume(watched, { batchBytes: BATCH, compress: true, previous, changed })
    const records = await collect(scan)
    expect(reads).toBe(changed.changedCount)
    const expected = naiveScan(next, BS, previous, [...changed.blocks()])
    expect(comparable(records)).toEqual(comparable(withRawFlags(expected.records, next, BS)))
    for (const record of records) checkPayload(record, next, BS, true)
    expect(Buffer.from(scan.index.digests).equals(Buffer.from(expected.index.digests))).toBe(true)
    expect(Buffer.from(scan.index.flags).equals(Buffer.from(expected.index.flags))).toBe(true)
    // Equal to a full scan of the same volume.
    const full = (await runScan(new MemoryBlockSource(next, BS), { batchBytes: BATCH })).index
    expect(Buffer.from(scan.index.digests).equals(Buffer.from(full.digests))).toBe(true)
  })

  it('change-tracking mode on a grown volume also reads the blocks the resize changed', async () => {
    const previous = (await runScan(new MemoryBlockSource(image, BS), { batchBytes: BATCH })).index
    const grown = edit(image, 16, 1e9, image.length + 3 * BS)
    const count = Math.ceil(grown.length / BS)
    const changed = new ChangedBlockMap(count, [{ first: 10, count: 2 }])
    const read = [10, 11, ...Array.from({ length: count - BLOCKS }, (_, k) => BLOCKS + k)]
    const { scan } = await scanAndCheck(grown, { compress: false, previous, changed }, read)
    expect(scan.stats.blocksRead).toBe(read.length)
  })

  it('the WASM BLAKE3 in the workers gives the same results', async () => {
    const { scan } = await scanAndCheck(image.subarray(0, 300 * BS), { hashImplementation: 'wasm' })
    expect(scan.stats.blake3).toBe('hash-wasm')
  })

  it('64 KiB blocks with the default batch size', async () => {
    const big = makeImage(17, 64 * 1024, 150, 5)
    const source = new MemoryBlockSource(big, 64 * 1024)
    const { index, stats } = await runScan(source, { workers: 2 })
    const expected = naiveScan(big, 64 * 1024)
    expect(Buffer.from(index.digests).equals(Buffer.from(expected.index.digests))).toBe(true)
    expect(Buffer.from(index.flags).equals(Buffer.from(expected.index.flags))).toBe(true)
    expect(stats.blocksRead).toBe(151)
  })

  it('a volume of 0 bytes gives an empty index and no records', async () => {
    const source = new MemoryBlockSource(new Uint8Array(0), BS)
    const scan = scanVolume(source, { previous: new BlockIndex(0, BS) })
    expect(await collect(scan)).toEqual([])
    expect(scan.index.blockCount).toBe(0)
    expect(scan.stats).toMatchObject({ blocksTotal: 0, blocksRead: 0, bytesRead: 0 })
    expect(scan.stats.blake3).toBe('@napi-rs/blake-hash')
  })
})

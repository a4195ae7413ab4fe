/**
 * Shared helpers for the scan pipeline's tests: seeded volume images that mix zero, text-like and
 * random blocks; a naive single-threaded scan (the independent @noble/hashes BLAKE3, its own zero
 * check and diff) to compare the pipeline against; block sources that count or fail reads; worker
 * pools whose destruction a test can observe; fresh temporary directories.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js'
import { compressSync, uncompressSync } from 'lz4-napi'
import { Piscina } from 'piscina'
import type { BlockRecord } from '../../../agent/scan/scan-batch.js'
import type { ScanPoolOptions, ScanWorkerPool } from '../../../agent/scan/scan-worker-pool.js'
import { BlockFlag, INDEX_FLAG_MASK } from '../../../blockio/block-flags.js'
import { BlockIndex } from '../../../blockio/block-index.js'
import { type BlockSource, blockCountOf, blockLength } from '../../../blockio/block-source.js'

/** mulberry32: small, fast, good enough to make test content reproducible from its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256)
  return bytes
}

const WORDS = 'the volume block replica snapshot error retry kernel config value path index commit'.split(' ')

export function textBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  let i = 0
  while (i < length) {
    const word = WORDS[Math.floor(random() * WORDS.length)]!
    for (let k = 0; k < word.length && i < length; k++) bytes[i++] = word.charCodeAt(k)
    if (i < length) bytes[i++] = random() < 0.1 ? 10 : 32
  }
  return bytes
}

/**
 * An image of `blocks` full blocks plus `tail` bytes, made of runs of zero, text-like and random
 * blocks (run lengths 1–40), so batches cut through runs of every kind.
 */
export function makeImage(seed: number, blockSize: number, blocks: number, tail = 0): Uint8Array {
  const random = seeded(seed)
  const image = new Uint8Array(blocks * blockSize + tail)
  let block = 0
  while (block * blockSize < image.length) {
    const kind = Math.floor(random() * 3)
    const run = 1 + Math.floor(random() * 40)
    for (let r = 0; r < run && block * blockSize < image.length; r++, block++) {
      const start = block * blockSize
      const length = Math.min(blockSize, image.length - start)
      if (kind === 1) image.set(textBytes(random, length), start)
      else if (kind === 2) image.set(randomBytes(random, length), start)
    }
  }
  return image
}

export interface NaiveScan {
  records: BlockRecord[]
  index: BlockIndex
}

function isZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false
  return true
}

function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

/**
 * What the pipeline must produce, computed one block at a time on this thread: `read` lists the
 * blocks to read (all when absent); blocks not read keep `previous`'s entry. Records carry no payload:
 * payloads are checked by decompressing them (`checkPayload`).
 */
export function naiveScan(
  image: Uint8Array,
  blockSize: number,
  previous?: BlockIndex,
  read?: Iterable<number>,
) {
  const index = new BlockIndex(image.length, blockSize)
  const count = blockCountOf(image.length, blockSize)
  if (read !== undefined && previous !== undefined) {
    for (let i = 0; i < Math.min(count, previous.blockCount); i++) {
      const sameLength =
        blockLength(previous.volumeSize, blockSize, i) === blockLength(image.length, blockSize, i)
      if (sameLength) index.setBlock(i, previous.digest(i), previous.flags[i]! & INDEX_FLAG_MASK)
    }
  }
  const records: BlockRecord[] = []
  const blocks = read ?? Array.from({ length: count }, (_, i) => i)
  for (const i of blocks) {
    const bytes = image.subarray(i * blockSize, Math.min((i + 1) * blockSize, image.length))
    const zero = isZero(bytes)
    const digest = nobleBlake3(bytes)
    let flags = zero ? BlockFlag.ZERO : 0
    const unchanged =
      previous !== undefined &&
      i < previous.blockCount &&
      (previous.flags[i]! & INDEX_FLAG_MASK) === flags &&
      sameDigest(previous.digest(i), digest)
    if (!unchanged) flags |= BlockFlag.CHANGED
    records.push({ index: i, digest, flags })
    index.setBlock(i, digest, flags & INDEX_FLAG_MASK)
  }
  return { records, index }
}

/** The flags a compressing scan adds: RAW when LZ4 does not shrink a changed non-zero block. */
export function withRawFlags(records: BlockRecord[], image: Uint8Array, blockSize: number): BlockRecord[] {
  return records.map((r) => {
    if ((r.flags & BlockFlag.CHANGED) === 0 || (r.flags & BlockFlag.ZERO) !== 0) return r
    const bytes = image.subarray(r.index * blockSize, Math.min((r.index + 1) * blockSize, image.length))
    const shrinks = compressSync(Buffer.from(bytes)).length < bytes.length
    return shrinks ? r : { ...r, flags: r.flags | BlockFlag.RAW }
  })
}

/** Throws unless `record`'s payload is right for its block of `image`. */
export function checkPayload(
  record: BlockRecord,
  image: Uint8Array,
  blockSize: number,
  compress: boolean,
): void {
  const bytes = image.subarray(
    record.index * blockSize,
    Math.min((record.index + 1) * blockSize, image.length),
  )
  const wantsPayload =
    compress && (record.flags & BlockFlag.CHANGED) !== 0 && (record.flags & BlockFlag.ZERO) === 0
  if (!wantsPayload) {
    if (record.payload !== undefined) throw new Error(`block ${record.index} has an unexpected payload`)
    return
  }
  if (record.payload === undefined) throw new Error(`block ${record.index} has no payload`)
  const plain =
    (record.flags & BlockFlag.RAW) !== 0 ? record.payload : uncompressSync(Buffer.from(record.payload))
  if (!Buffer.from(plain).equals(Buffer.from(bytes)))
    throw new Error(`block ${record.index}: payload differs`)
}

/** Records without their payloads, with plain arrays for digests: comparable with toEqual. */
export function comparable(records: BlockRecord[]): Array<{ index: number; digest: string; flags: number }> {
  return records.map((r) => ({
    index: r.index,
    digest: Buffer.from(r.digest).toString('hex'),
    flags: r.flags,
  }))
}

/** A source over `inner` that calls `onRead` before every read and can be told to fail. */
export class WatchedSource implements BlockSource {
  readonly name: string
  readonly size: number
  readonly blockSize: number
  readonly blockCount: number
  reads: Array<{ first: number; count: number }> = []

  constructor(
    private readonly inner: BlockSource,
    private readonly onRead: (first: number, count: number) => void | Promise<void> = () => {},
  ) {
    this.name = inner.name
    this.size = inner.size
    this.blockSize = inner.blockSize
    this.blockCount = inner.blockCount
  }

  async read(first: number, count: number, target: Uint8Array): Promise<number> {
    this.reads.push({ first, count })
    await this.onRead(first, count)
    return this.inner.read(first, count, target)
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}

export interface TrackedPools {
  createPool: (options: ScanPoolOptions) => ScanWorkerPool
  pools: Array<{ piscina: Piscina; destroyed: boolean }>
}

/** Real piscina pools (optionally with another worker file) whose destruction a test can check. */
export function trackedPools(workerFile?: string): TrackedPools {
  const pools: TrackedPools['pools'] = []
  const createPool = (options: ScanPoolOptions): ScanWorkerPool => {
    const piscina = new Piscina({
      filename: workerFile === undefined ? options.filename : pathToFileURL(workerFile).href,
      minThreads: options.threads,
      maxThreads: options.threads,
      atomics: 'disabled',
      workerData: options.workerData,
    })
    piscina.on('error', options.onError)
    const entry = { piscina, destroyed: false }
    pools.push(entry)
    return {
      run: (task, runOptions) => piscina.run(task, runOptions),
      destroy: async () => {
        await piscina.destroy()
        entry.destroyed = true
      },
    }
  }
  return { createPool, pools }
}

/** A fresh temporary directory, optionally with files, and its removal. */
export async function tempDir(files: Record<string, string> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-scan-'))
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}

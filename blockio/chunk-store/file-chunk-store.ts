/**
 * The connector's chunk store writer over a folder (docs/FORMATS.md "Chunk store v1"). One process
 * holds it (the writer lock); changes to one tenant run one at a time (the tenant's *write lock*, an
 * in-process queue), and each keeps the write ordering of the format: chunk data synced, then index,
 * then the point's map file as its marker.
 */
import { join } from 'node:path'
import { blake3 } from '@napi-rs/blake-hash'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import { NOT_SEALED, sealInThread } from './chunk-batch.js'
import {
  checkIncomingChunk,
  chunkProblemError,
  chunkShapeProblem,
  entryLengthOf,
  SealScratch,
  tenantAad,
} from './chunk-codec.js'
import { ChunkSealer, type ChunkSealerOptions, type SealedCall } from './chunk-sealer.js'
import type { ChunkPin, ChunkStore, GcReport, IncomingChunk, NewPoint, PointInfo } from './chunk-store.js'
import { FenceRecords } from './fence-records.js'
import { FileChunkStoreReader } from './file-chunk-store-reader.js'
import { collectTenantGarbage } from './garbage-collector.js'
import { checkNewPoint } from './new-point-checks.js'
import { DIGEST_LENGTH } from './pack-format.js'
import {
  countDataBlocks,
  encodePointMap,
  isZeroDigest,
  MAP_SUFFIX,
  readPointMapFile,
} from './point-map-file.js'
import {
  checkId,
  ensureFolder,
  listFolder,
  removeFileDurably,
  removeTempFiles,
  storeIo,
  writeFileCrashSafe,
} from './store-files.js'
import { digestKey, type EntryToAppend, type TenantChunks } from './tenant-chunks.js'
import type { TenantKeyring } from './tenant-keyring.js'

/** docs/FORMATS.md "Write ordering": a pack is closed once it reaches this size. */
export const DEFAULT_PACK_SIZE_LIMIT = 64 * 1024 * 1024

/** Chunk i of a call as an entry to append, its bytes a view into the call's sealed output. */
function entryOf(chunk: IncomingChunk, sealed: SealedCall, i: number): EntryToAppend | undefined {
  const at = sealed.entryAt[i]
  if (at === NOT_SEALED) return undefined
  const length = entryLengthOf(chunk.payload.byteLength)
  return {
    digest: chunk.digest,
    encoding: chunk.encoding,
    plainLength: chunk.plainLength,
    pieces: [sealed.output.subarray(at, at + length)],
    length,
  }
}

/** toSeal[i] = 1 for the chunks `index` does not hold, first occurrence of each digest only. */
function chunksToSeal(
  chunks: readonly IncomingChunk[],
  index: ReadonlyMap<string, unknown> | undefined,
): Uint8Array {
  const toSeal = new Uint8Array(chunks.length)
  const seen = new Set<string>()
  for (let i = 0; i < chunks.length; i++) {
    const key = digestKey(chunks[i].digest)
    if (seen.has(key) || index?.has(key) === true) continue
    seen.add(key)
    toSeal[i] = 1
  }
  return toSeal
}

class TenantPin implements ChunkPin {
  readonly keys = new Set<string>()
  readonly #release: () => void
  #released = false

  constructor(release: () => void) {
    this.#release = release
  }

  add(digests: Iterable<Uint8Array>): void {
    if (this.#released) return
    for (const digest of digests) this.keys.add(digestKey(digest))
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    this.keys.clear()
    this.#release()
  }
}

export class FileChunkStore extends FileChunkStoreReader implements ChunkStore {
  readonly #packSizeLimit: number
  readonly #releaseLock: () => Promise<void>
  readonly #fences: FenceRecords
  readonly #queues = new Map<string, Promise<unknown>>()
  readonly #pins = new Map<string, Set<TenantPin>>()
  readonly #sealer: ChunkSealer
  /** For the rare chunk sealed under the lock (see putChunks). */
  readonly #scratch = new SealScratch()

  private constructor(
    root: string,
    keyring: TenantKeyring,
    packSizeLimit: number,
    releaseLock: () => Promise<void>,
    sealer: ChunkSealerOptions,
  ) {
    super(root, keyring, true)
    this.#packSizeLimit = packSizeLimit
    this.#releaseLock = releaseLock
    this.#fences = new FenceRecords(root)
    this.#sealer = new ChunkSealer(sealer)
  }

  /** Opens the store as its writer; the caller holds `releaseLock` (the writer lock) already. */
  static async openWriter(
    root: string,
    keyring: TenantKeyring,
    packSizeLimit: number,
    releaseLock: () => Promise<void>,
    sealer: ChunkSealerOptions,
  ): Promise<FileChunkStore> {
    const store = new FileChunkStore(root, keyring, packSizeLimit, releaseLock, sealer)
    try {
      await removeTempFiles(root)
      for (const tenant of await listFolder(join(root, 'tenants'))) {
        const folder = join(root, 'tenants', tenant)
        await removeTempFiles(folder)
        await removeTempFiles(join(folder, 'packs'))
        await removeTempFiles(join(folder, 'volumes'))
        for (const volumeId of await listFolder(join(folder, 'points'))) {
          await removeTempFiles(join(folder, 'points', volumeId))
        }
      }
      await store.loadTenants()
      await store.#fences.load()
    } catch (cause) {
      await store.close().catch(() => {})
      throw cause
    }
    return store
  }

  /** Runs `work` after every earlier change of the tenant has finished. */
  #exclusive<T>(tenant: string, work: () => Promise<T>): Promise<T> {
    // A call that passed its first check before close() began must not start work after it.
    this.checkOpen()
    const previous = this.#queues.get(tenant) ?? Promise.resolve()
    const next = previous.then(work)
    const settled = next.catch(() => {})
    this.#queues.set(tenant, settled)
    void settled.then(() => {
      if (this.#queues.get(tenant) === settled) this.#queues.delete(tenant)
    })
    return next
  }

  /** The tenant's chunks and data key, made on first use. */
  async #tenantForWrite(tenant: string): Promise<{ chunks: TenantChunks; dataKey: Uint8Array }> {
    let chunks = this.tenants.get(tenant)
    if (chunks === undefined) chunks = await this.loadTenant(tenant)
    let dataKey = await this.keyring.dataKey(tenant)
    if (dataKey === undefined) {
      const { packs, indexes } = await chunks.listFiles()
      if (packs.size > 0 || indexes.size > 0) {
        throw new BlockioError(BlockioErrorCode.KEY_MISSING, `tenant ${tenant} holds packs but no key file`, {
          remediation: `Restore ${join(chunks.folder, 'key')} from backup; a new key is never made over old data.`,
        })
      }
      dataKey = await this.keyring.createDataKey(tenant)
    }
    await ensureFolder(chunks.packsFolder).catch((cause) => {
      throw storeIo('create', chunks.packsFolder, cause)
    })
    return { chunks, dataKey }
  }

  heldDigests(tenant: string, digests: Uint8Array): boolean[] {
    this.checkOpen()
    if (digests.byteLength % DIGEST_LENGTH !== 0) {
      throw new BlockioError(
        BlockioErrorCode.INVALID_OPTION,
        `digests are ${digests.byteLength} bytes, not a multiple of ${DIGEST_LENGTH}`,
        { remediation: 'Pass 32-byte digests, concatenated.' },
      )
    }
    const index = this.tenants.get(tenant)?.index
    const held: boolean[] = []
    for (let at = 0; at < digests.byteLength; at += DIGEST_LENGTH) {
      held.push(index?.has(digestKey(digests.subarray(at, at + DIGEST_LENGTH))) ?? false)
    }
    return held
  }

  /**
   * Checking and sealing (chunk-sealer.ts: in chunk workers, or in-thread for small calls) are done
   * before waiting for the tenant's write lock, so that they overlap the fsyncs of an earlier call
   * still running; under the lock only the chunks held by then are skipped and the rest appended.
   * A new tenant's first call is checked before the lock (nothing, not even its key, is made for a
   * refused call) and sealed under it, once its key exists.
   */
  async putChunks(tenant: string, chunks: readonly IncomingChunk[]): Promise<void> {
    this.checkOpen()
    checkId('tenant', tenant)
    // Shape first, in order: the first malformed chunk is reported as the in-thread check would,
    // after the content of the chunks before it.
    for (let i = 0; i < chunks.length; i++) {
      const shape = chunkShapeProblem(chunks[i])
      if (shape === undefined) continue
      for (let j = 0; j < i; j++) checkIncomingChunk(chunks[j], j)
      checkIncomingChunk(chunks[i], i)
    }
    if (chunks.length === 0) return
    const keys = { dataKey: new Uint8Array(0), tenantBytes: tenantAad(tenant) }
    const known = this.tenants.get(tenant)
    const earlyKey = known === undefined ? undefined : await this.keyring.dataKey(tenant)
    this.checkOpen()
    let sealed: SealedCall | undefined
    if (known !== undefined && earlyKey !== undefined) {
      sealed = await this.#sealer.seal(chunks, chunksToSeal(chunks, known.index), {
        ...keys,
        dataKey: earlyKey,
      })
    } else {
      this.#sealer.release(await this.#sealer.seal(chunks, new Uint8Array(chunks.length), keys))
    }
    try {
      await this.#exclusive(tenant, async () => {
        const { chunks: tenantChunks, dataKey } = await this.#tenantForWrite(tenant)
        const toSeal = chunksToSeal(chunks, tenantChunks.index)
        if (sealed === undefined || dataKey !== earlyKey) {
          this.#sealer.release(sealed ?? {})
          // Every chunk was checked above, before the lock: only encryption is left.
          sealed = await this.#sealer.seal(chunks, toSeal, { ...keys, dataKey, checked: true })
        }
        const entries: EntryToAppend[] = []
        for (let i = 0; i < chunks.length; i++) {
          if (toSeal[i] !== 1) continue
          // Sealed early, or (garbage collected since) sealed now, on this thread: rare and small.
          const entry = entryOf(chunks[i], sealed, i) ?? this.#sealOne(chunks[i], { ...keys, dataKey })
          entries.push(entry)
        }
        await tenantChunks.append(entries, this.#packSizeLimit)
      })
    } finally {
      if (sealed !== undefined) this.#sealer.release(sealed)
    }
  }

  #sealOne(chunk: IncomingChunk, keys: { dataKey: Uint8Array; tenantBytes: Uint8Array }): EntryToAppend {
    const output = Buffer.allocUnsafe(entryLengthOf(chunk.payload.byteLength))
    const sealed = sealInThread([chunk], Uint8Array.of(1), keys, this.#scratch, output)
    if ('position' in sealed) throw chunkProblemError(0, sealed)
    const entry = entryOf(chunk, sealed, 0)
    if (entry === undefined) throw new Error('a chunk to seal was not sealed')
    return entry
  }

  fencingToken(tenant: string, volumeId: string): number {
    this.checkOpen()
    return this.#fences.get(tenant, volumeId)
  }

  async admitFencingToken(tenant: string, volumeId: string, token: number): Promise<void> {
    this.checkOpen()
    checkId('tenant', tenant)
    checkId('volumeId', volumeId)
    await this.#exclusive(tenant, () => this.#fences.admit(tenant, volumeId, token))
  }

  async commitPoint(tenant: string, point: NewPoint): Promise<PointInfo> {
    this.checkOpen()
    checkId('tenant', tenant)
    checkNewPoint(point)
    return this.#exclusive(tenant, async () => {
      const mapDigest = blake3(point.blockMap).toString('hex')
      const existing = await this.volumeOfPoint(tenant, point.pointId)
      if (existing !== undefined) {
        const path = join(this.pointsFolder(tenant, existing), `${point.pointId}${MAP_SUFFIX}`)
        const { info } = await readPointMapFile(path, { tenant, volumeId: existing, pointId: point.pointId })
        const same =
          existing === point.volumeId &&
          info.mapDigest === mapDigest &&
          info.blockSize === point.blockSize &&
          info.volumeSize === point.volumeSize
        if (same) return info
        throw new BlockioError(
          BlockioErrorCode.POINT_EXISTS,
          `tenant ${tenant} already has recovery point ${point.pointId} (volume ${existing}) with another block map`,
          { remediation: 'Use a new point id; the same commit replayed returns the existing point.' },
        )
      }
      await this.#fences.admit(tenant, point.volumeId, point.fencingToken)
      const index = this.tenants.get(tenant)?.index
      let firstMissing = -1
      let missing = 0
      for (let at = 0, block = 0; at < point.blockMap.byteLength; at += DIGEST_LENGTH, block++) {
        if (isZeroDigest(point.blockMap, at)) continue
        if (index?.has(digestKey(point.blockMap.subarray(at, at + DIGEST_LENGTH))) === true) continue
        if (firstMissing < 0) firstMissing = block
        missing++
      }
      if (missing > 0) {
        throw new BlockioError(
          BlockioErrorCode.POINT_INCOMPLETE,
          `recovery point ${point.pointId} names ${missing} chunk(s) tenant ${tenant} does not hold, the first at block ${firstMissing}`,
          { remediation: 'Send the missing blocks, then commit again.' },
        )
      }
      const info: PointInfo = {
        tenant,
        pointId: point.pointId,
        vmId: point.vmId,
        volumeId: point.volumeId,
        jobId: point.jobId,
        fencingToken: point.fencingToken,
        createdAt: point.createdAt,
        volumeSize: point.volumeSize,
        blockSize: point.blockSize,
        blockCount: point.blockMap.byteLength / DIGEST_LENGTH,
        mapDigest,
        dataBlocks: countDataBlocks(point.blockMap),
      }
      const folder = this.pointsFolder(tenant, point.volumeId)
      await ensureFolder(folder).catch((cause) => {
        throw storeIo('create', folder, cause)
      })
      // docs/FORMATS.md "Write ordering" 2: the rename of the map file is the point's marker.
      await writeFileCrashSafe(
        join(folder, `${point.pointId}${MAP_SUFFIX}`),
        encodePointMap(info, point.blockMap),
      )
      return info
    })
  }

  async deletePoint(tenant: string, pointId: string): Promise<boolean> {
    this.checkOpen()
    checkId('tenant', tenant)
    checkId('pointId', pointId)
    return this.#exclusive(tenant, async () => {
      const volumeId = await this.volumeOfPoint(tenant, pointId)
      if (volumeId === undefined) return false
      return removeFileDurably(join(this.pointsFolder(tenant, volumeId), `${pointId}${MAP_SUFFIX}`))
    })
  }

  pin(tenant: string): ChunkPin {
    this.checkOpen()
    checkId('tenant', tenant)
    let pins = this.#pins.get(tenant)
    if (pins === undefined) {
      pins = new Set()
      this.#pins.set(tenant, pins)
    }
    const set = pins
    const pin: TenantPin = new TenantPin(() => set.delete(pin))
    set.add(pin)
    return pin
  }

  #isPinned(tenant: string, key: string): boolean {
    for (const pin of this.#pins.get(tenant) ?? []) if (pin.keys.has(key)) return true
    return false
  }

  async collectGarbage(tenant: string, options: { signal?: AbortSignal } = {}): Promise<GcReport> {
    this.checkOpen()
    checkId('tenant', tenant)
    return this.#exclusive(tenant, async () => {
      const chunks = this.tenants.get(tenant)
      if (chunks === undefined)
        return { chunksRemoved: 0, bytesReclaimed: 0, packsRewritten: 0, packsDeleted: 0 }
      return collectTenantGarbage({
        chunks,
        pointsFolder: this.pointsFolder(tenant),
        isPinned: (key) => this.#isPinned(tenant, key),
        packSizeLimit: this.#packSizeLimit,
        signal: options.signal,
      })
    })
  }

  override async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    // Let changes already asked for finish: their files must be complete before the lock is released.
    await Promise.allSettled([...this.#queues.values()])
    // Then the calls still checking: they find the store closed and store nothing.
    await this.#sealer.close()
    await this.closeTenants()
    await this.#releaseLock()
  }
}

/**
 * The connector's chunk store writer over a folder (docs/FORMATS.md "Chunk store v1"). One process
 * holds it (the writer lock); changes to one tenant run one at a time (the tenant's *write lock*, an
 * in-process queue), and each keeps the write ordering of the format: chunk data synced, then index,
 * then the point's map file as its marker.
 */
import { join } from 'node:path'
import { blake3 } from '@napi-rs/blake-hash'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import { checkIncomingChunk, entryLengthOf, sealChunk, tenantAad } from './chunk-codec.js'
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

function sealEntry(dataKey: Uint8Array, aad: Buffer, chunk: IncomingChunk): EntryToAppend {
  return {
    digest: chunk.digest,
    encoding: chunk.encoding,
    plainLength: chunk.plainLength,
    pieces: sealChunk(dataKey, aad, chunk),
    length: entryLengthOf(chunk.payload.byteLength),
  }
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

  private constructor(
    root: string,
    keyring: TenantKeyring,
    packSizeLimit: number,
    releaseLock: () => Promise<void>,
  ) {
    super(root, keyring, true)
    this.#packSizeLimit = packSizeLimit
    this.#releaseLock = releaseLock
    this.#fences = new FenceRecords(root)
  }

  /** Opens the store as its writer; the caller holds `releaseLock` (the writer lock) already. */
  static async openWriter(
    root: string,
    keyring: TenantKeyring,
    packSizeLimit: number,
    releaseLock: () => Promise<void>,
  ): Promise<FileChunkStore> {
    const store = new FileChunkStore(root, keyring, packSizeLimit, releaseLock)
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

  async putChunks(tenant: string, chunks: readonly IncomingChunk[]): Promise<void> {
    this.checkOpen()
    checkId('tenant', tenant)
    // All checks before any write: one bad chunk refuses the call.
    for (let i = 0; i < chunks.length; i++) checkIncomingChunk(chunks[i], i)
    if (chunks.length === 0) return
    const aad = tenantAad(tenant)
    // Sealing is CPU work: it is done before waiting for the tenant's write lock, so that it overlaps
    // the fsyncs of an earlier call still running. A chunk found held by then is skipped anyway.
    const known = this.tenants.get(tenant)
    const earlyKey = known === undefined ? undefined : await this.keyring.dataKey(tenant)
    const sealed = new Map<string, EntryToAppend>()
    if (known !== undefined && earlyKey !== undefined) {
      for (const chunk of chunks) {
        const key = digestKey(chunk.digest)
        if (!known.index.has(key) && !sealed.has(key)) sealed.set(key, sealEntry(earlyKey, aad, chunk))
      }
    }
    await this.#exclusive(tenant, async () => {
      const { chunks: tenantChunks, dataKey } = await this.#tenantForWrite(tenant)
      const inCall = new Set<string>()
      const entries: EntryToAppend[] = []
      for (const chunk of chunks) {
        const key = digestKey(chunk.digest)
        if (tenantChunks.index.has(key) || inCall.has(key)) continue
        inCall.add(key)
        const early = dataKey === earlyKey ? sealed.get(key) : undefined
        entries.push(early ?? sealEntry(dataKey, aad, chunk))
      }
      await tenantChunks.append(entries, this.#packSizeLimit)
    })
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
    await this.closeTenants()
    await this.#releaseLock()
  }
}

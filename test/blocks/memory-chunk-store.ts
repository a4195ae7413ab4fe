/**
 * A ChunkStore held in memory, for the block-link tests: a real implementation of the contract in
 * blockio/chunk-store/chunk-store.ts (digests checked with BLAKE3 — @noble/hashes, independent of
 * the agent's own hashing — LZ4 decoded with lz4-napi, all-or-nothing putChunks, fencing, pins,
 * replayed commits), without encryption or files. Errors carry the contract's codes.
 *
 * `gate` lets a test hold putChunks: while set, every call waits for it before storing anything.
 */
import { blake3 } from '@noble/hashes/blake3.js'
import { uncompressSync } from 'lz4-napi'
import type {
  BlockMap,
  CheckOptions,
  CheckReport,
  ChunkEncoding,
  ChunkPin,
  ChunkStore,
  GcReport,
  IncomingChunk,
  NewPoint,
  PointInfo,
} from '../../blockio/chunk-store/chunk-store.js'

const DIGEST = 32

export class MemoryStoreError extends Error {
  readonly code: string
  readonly remediation: string
  readonly retryable: boolean

  constructor(code: string, message: string, remediation = 'See docs/ERRORS.md.', retryable = false) {
    super(message)
    this.name = 'MemoryStoreError'
    this.code = code
    this.remediation = remediation
    this.retryable = retryable
  }
}

interface StoredChunk {
  encoding: ChunkEncoding
  plainLength: number
  payload: Uint8Array
}

interface StoredPoint {
  info: PointInfo
  digests: Uint8Array
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
const isZero = (digest: Uint8Array): boolean => digest.every((b) => b === 0)

/** The plaintext of a stored form, or why it is not one. */
export function decodeChunk(chunk: StoredChunk): Uint8Array {
  if (chunk.encoding === 2) return chunk.payload
  try {
    return new Uint8Array(uncompressSync(Buffer.from(chunk.payload)))
  } catch (error) {
    throw new MemoryStoreError(
      'BLOCKIO_CHUNK_INVALID',
      `LZ4 payload does not decode: ${(error as Error).message}`,
    )
  }
}

export class MemoryChunkStore implements ChunkStore {
  readonly chunks = new Map<string, Map<string, StoredChunk>>()
  readonly points = new Map<string, Map<string, StoredPoint>>()
  readonly fences = new Map<string, number>()
  /** Open pins: the tenant and the digests (hex) each holds. */
  readonly pins = new Set<{ tenant: string; digests: Set<string> }>()
  /** Calls of putChunks and the chunks they were given, for tests that count what was sent. */
  readonly putCalls: number[] = []
  gate: Promise<void> | undefined

  #tenantChunks(tenant: string): Map<string, StoredChunk> {
    const chunks = this.chunks.get(tenant) ?? new Map<string, StoredChunk>()
    this.chunks.set(tenant, chunks)
    return chunks
  }

  #tenantPoints(tenant: string): Map<string, StoredPoint> {
    const points = this.points.get(tenant) ?? new Map<string, StoredPoint>()
    this.points.set(tenant, points)
    return points
  }

  heldDigests(tenant: string, digests: Uint8Array): boolean[] {
    const chunks = this.#tenantChunks(tenant)
    const held: boolean[] = []
    for (let i = 0; i < digests.length; i += DIGEST)
      held.push(chunks.has(hex(digests.subarray(i, i + DIGEST))))
    return held
  }

  hasChunk(tenant: string, digest: Uint8Array): boolean {
    return this.#tenantChunks(tenant).has(hex(digest))
  }

  async putChunks(tenant: string, incoming: readonly IncomingChunk[]): Promise<void> {
    if (this.gate !== undefined) await this.gate
    this.putCalls.push(incoming.length)
    const checked: Array<[string, StoredChunk]> = []
    for (const chunk of incoming) {
      const stored = {
        encoding: chunk.encoding,
        plainLength: chunk.plainLength,
        payload: Uint8Array.from(chunk.payload),
      }
      const plain = decodeChunk(stored)
      if (plain.length !== chunk.plainLength) {
        throw new MemoryStoreError(
          'BLOCKIO_CHUNK_INVALID',
          `chunk decodes to ${plain.length} bytes, not ${chunk.plainLength}`,
        )
      }
      if (hex(blake3(plain)) !== hex(chunk.digest)) {
        throw new MemoryStoreError(
          'BLOCKIO_CHUNK_DIGEST_MISMATCH',
          `chunk ${hex(chunk.digest)} hashes to ${hex(blake3(plain))}`,
          'The appliance sent a block whose bytes do not match its digest; rescan the volume.',
        )
      }
      checked.push([hex(chunk.digest), stored])
    }
    const chunks = this.#tenantChunks(tenant)
    for (const [key, stored] of checked) if (!chunks.has(key)) chunks.set(key, stored)
  }

  async admitFencingToken(tenant: string, volumeId: string, token: number): Promise<void> {
    const highest = this.fencingToken(tenant, volumeId)
    if (token < highest) {
      throw new MemoryStoreError(
        'BLOCKIO_FENCE_STALE',
        `fencing token ${token} of volume ${volumeId} is below ${highest}`,
        'This node lost its lease; a newer job owns the volume.',
      )
    }
    this.fences.set(`${tenant}/${volumeId}`, token)
  }

  fencingToken(tenant: string, volumeId: string): number {
    return this.fences.get(`${tenant}/${volumeId}`) ?? 0
  }

  async commitPoint(tenant: string, point: NewPoint): Promise<PointInfo> {
    const highest = this.fencingToken(tenant, point.volumeId)
    if (point.fencingToken < highest) {
      throw new MemoryStoreError(
        'BLOCKIO_FENCE_STALE',
        `fencing token ${point.fencingToken} is below ${highest}`,
      )
    }
    const blockCount = Math.ceil(point.volumeSize / point.blockSize)
    if (point.blockMap.length !== blockCount * DIGEST) {
      throw new MemoryStoreError('BLOCKIO_INVALID_OPTION', `block map of ${point.blockMap.length} bytes`)
    }
    const chunks = this.#tenantChunks(tenant)
    let dataBlocks = 0
    for (let i = 0; i < blockCount; i++) {
      const digest = point.blockMap.subarray(i * DIGEST, (i + 1) * DIGEST)
      if (isZero(digest)) continue
      dataBlocks++
      if (!chunks.has(hex(digest))) {
        throw new MemoryStoreError('BLOCKIO_POINT_INCOMPLETE', `block ${i} names ${hex(digest)}, not held`)
      }
    }
    const mapDigest = hex(blake3(point.blockMap))
    const points = this.#tenantPoints(tenant)
    const existing = points.get(point.pointId)
    if (existing !== undefined) {
      if (existing.info.mapDigest === mapDigest) return existing.info
      throw new MemoryStoreError('BLOCKIO_POINT_EXISTS', `point ${point.pointId} exists with another map`)
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
      blockCount,
      mapDigest,
      dataBlocks,
    }
    points.set(point.pointId, { info, digests: Uint8Array.from(point.blockMap) })
    return info
  }

  async listPoints(tenant: string, volumeId?: string): Promise<PointInfo[]> {
    return [...this.#tenantPoints(tenant).values()]
      .map((p) => p.info)
      .filter((info) => volumeId === undefined || info.volumeId === volumeId)
      .sort((a, b) => a.createdAt - b.createdAt || a.pointId.localeCompare(b.pointId))
  }

  async readBlockMap(tenant: string, pointId: string): Promise<BlockMap> {
    const point = this.#tenantPoints(tenant).get(pointId)
    if (point === undefined) {
      throw new MemoryStoreError(
        'BLOCKIO_POINT_NOT_FOUND',
        `no recovery point ${pointId} for tenant ${tenant}`,
      )
    }
    return { info: point.info, digests: Uint8Array.from(point.digests) }
  }

  async readChunk(tenant: string, digest: Uint8Array): Promise<Uint8Array> {
    const chunk = this.#tenantChunks(tenant).get(hex(digest))
    if (chunk === undefined) throw new MemoryStoreError('BLOCKIO_CHUNK_MISSING', `no chunk ${hex(digest)}`)
    const plain = decodeChunk(chunk)
    if (hex(blake3(plain)) !== hex(digest))
      throw new MemoryStoreError('BLOCKIO_CHUNK_CORRUPT', 'digest mismatch')
    return plain
  }

  async checkPoint(tenant: string, pointId: string, options: CheckOptions = {}): Promise<CheckReport> {
    const { info, digests } = await this.readBlockMap(tenant, pointId)
    const maxProblems = options.maxProblems ?? 1000
    const report: CheckReport = {
      tenant,
      pointId,
      blocksChecked: 0,
      bytesChecked: 0,
      problems: [],
      moreProblems: 0,
    }
    for (let index = 0; index < info.blockCount; index++) {
      options.signal?.throwIfAborted()
      const digest = digests.subarray(index * DIGEST, (index + 1) * DIGEST)
      report.blocksChecked++
      if (isZero(digest)) continue
      try {
        report.bytesChecked += (await this.readChunk(tenant, digest)).length
      } catch (error) {
        const e = error as MemoryStoreError
        if (report.problems.length < maxProblems)
          report.problems.push({ index, code: e.code, message: e.message })
        else report.moreProblems++
      }
    }
    return report
  }

  async deletePoint(tenant: string, pointId: string): Promise<boolean> {
    return this.#tenantPoints(tenant).delete(pointId)
  }

  pin(tenant: string): ChunkPin {
    const pin = { tenant, digests: new Set<string>() }
    this.pins.add(pin)
    return {
      add: (digests) => {
        for (const digest of digests) pin.digests.add(hex(digest))
      },
      release: () => {
        this.pins.delete(pin)
      },
    }
  }

  async collectGarbage(tenant: string): Promise<GcReport> {
    const live = new Set<string>()
    for (const point of this.#tenantPoints(tenant).values()) {
      for (let i = 0; i < point.digests.length; i += DIGEST)
        live.add(hex(point.digests.subarray(i, i + DIGEST)))
    }
    for (const pin of this.pins) {
      if (pin.tenant === tenant) for (const key of pin.digests) live.add(key)
    }
    const report: GcReport = { chunksRemoved: 0, bytesReclaimed: 0, packsRewritten: 0, packsDeleted: 0 }
    const chunks = this.#tenantChunks(tenant)
    for (const [key, chunk] of chunks) {
      if (live.has(key)) continue
      chunks.delete(key)
      report.chunksRemoved++
      report.bytesReclaimed += chunk.payload.length
    }
    return report
  }

  async close(): Promise<void> {}
}

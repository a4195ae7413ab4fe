/**
 * The connector's chunk store: the contract. Implementations live beside it (file-chunk-store.ts);
 * the on-disk layout is specified in docs/FORMATS.md "Chunk store v1" before it is coded.
 *
 * Words used here:
 * - A *chunk* is the plaintext of one block, named by its BLAKE3 digest (32 bytes). Chunks are
 *   content-addressed *per tenant*: two tenants holding the same bytes hold two chunks (no dedup
 *   across tenants). A zero block is never a chunk: block maps name it with the zero digest.
 * - A *stored form* is what the appliance sent: LZ4 (`lz4-napi` compressSync output) or RAW. The
 *   store keeps it as sent, encrypted with AES-256-GCM under the tenant's data key, appended to a
 *   *pack file*; an index maps digest → (pack, offset, length).
 * - A *block map* is a recovery point's content: for block 0 … blockCount − 1 the digest of its
 *   plaintext (32 zero bytes for a zero block), concatenated. Its *map digest* is BLAKE3 of that
 *   concatenation (docs/PROTOCOL.md §9 COMMIT).
 * - A *recovery point* is a committed block map plus its facts (PointInfo). It is visible once its
 *   marker is durable, and only after every chunk it names is durable (write ordering: chunk data
 *   fsync → index → marker).
 * - A *fencing token* is a per-volume number that only grows (docs/PROTOCOL.md §4 "Block stream").
 *   The store keeps the highest seen per volume and refuses a lower one, so a node that lost its
 *   lease cannot write after its successor started.
 * - A *pin* holds chunks a cycle in progress stored or was told are held, so garbage collection
 *   never removes a chunk a commit is about to name.
 *
 * Every failure is a BlockioError with a code listed in docs/ERRORS.md (CHUNK_*, POINT_*, FENCE_*,
 * STORE_*), so the block listener can forward it unchanged in an ERROR frame.
 */

/** How a stored chunk's payload is encoded, as sent in a BLOCK_BATCH record. */
export const ChunkEncoding = {
  /** `lz4-napi` compressSync output: 4-byte LE plaintext length, then an LZ4 block. */
  LZ4: 0,
  /** The plaintext itself. */
  RAW: 2,
} as const
export type ChunkEncoding = (typeof ChunkEncoding)[keyof typeof ChunkEncoding]

/** One chunk handed to putChunks: already what the appliance sent, not yet checked. */
export interface IncomingChunk {
  /** BLAKE3 of the plaintext, as claimed by the sender. */
  digest: Uint8Array
  encoding: ChunkEncoding
  /** The plaintext's length: the block's length (the last block of a volume may be shorter). */
  plainLength: number
  payload: Uint8Array
}

export interface PointInfo {
  tenant: string
  pointId: string
  vmId: string
  volumeId: string
  /** The job whose commit made the point. */
  jobId: string
  /** The fencing token the commit was made under. */
  fencingToken: number
  /** Milliseconds since the epoch, the connector's clock at commit. */
  createdAt: number
  volumeSize: number
  blockSize: number
  blockCount: number
  /** BLAKE3 of the block map, 64 lowercase hex characters. */
  mapDigest: string
  /** Blocks whose digest is not the zero digest. */
  dataBlocks: number
}

export interface NewPoint {
  pointId: string
  vmId: string
  volumeId: string
  jobId: string
  fencingToken: number
  createdAt: number
  volumeSize: number
  blockSize: number
  /** blockCount × 32 bytes; blockCount = ⌈volumeSize / blockSize⌉. */
  blockMap: Uint8Array
}

export interface BlockMap {
  info: PointInfo
  /** blockCount × 32 bytes. */
  digests: Uint8Array
}

export interface CheckProblem {
  /** The block number in the point. */
  index: number
  /** BLOCKIO_CHUNK_MISSING, BLOCKIO_CHUNK_CORRUPT, BLOCKIO_PACK_MISSING, … */
  code: string
  message: string
}

export interface CheckReport {
  tenant: string
  pointId: string
  blocksChecked: number
  /** Plaintext bytes read, decrypted, decompressed and hashed. */
  bytesChecked: number
  /** Every block that does not match, in block order (bounded by `maxProblems`). */
  problems: CheckProblem[]
  /** Problems beyond maxProblems, counted but not listed. */
  moreProblems: number
}

export interface CheckOptions {
  /** Called now and then with blocks done so far. */
  onProgress?: (blocksDone: number, blockCount: number) => void
  signal?: AbortSignal
  /** Default 1,000. */
  maxProblems?: number
}

export interface GcReport {
  chunksRemoved: number
  bytesReclaimed: number
  packsRewritten: number
  packsDeleted: number
}

/** Reading: what restore and the consistency check need. Never writes. */
export interface ChunkStoreReader {
  /** Points of a tenant (of one volume when given), oldest first (createdAt, then pointId). */
  listPoints(tenant: string, volumeId?: string): Promise<PointInfo[]>
  /** Throws BLOCKIO_POINT_NOT_FOUND, BLOCKIO_POINT_CORRUPT. */
  readBlockMap(tenant: string, pointId: string): Promise<BlockMap>
  /**
   * The chunk's plaintext, decrypted, decompressed and checked against its digest. Throws
   * BLOCKIO_CHUNK_MISSING (not in the index), BLOCKIO_PACK_MISSING, BLOCKIO_CHUNK_CORRUPT
   * (authentication failed, bad length, digest mismatch).
   */
  readChunk(tenant: string, digest: Uint8Array): Promise<Uint8Array>
  /** Whether the tenant holds the chunk (its index names it). */
  hasChunk(tenant: string, digest: Uint8Array): boolean
  /**
   * Reads, decrypts, decompresses and hashes every chunk of the point; never throws for bad chunk
   * data (each bad block is a problem). Throws only when there is no map to walk:
   * BLOCKIO_POINT_NOT_FOUND, BLOCKIO_POINT_CORRUPT.
   */
  checkPoint(tenant: string, pointId: string, options?: CheckOptions): Promise<CheckReport>
  close(): Promise<void>
}

/**
 * A cycle's hold on chunks: garbage collection keeps every digest of every open pin. Pin a digest
 * *before* asking heldDigests about it: a collection running between the answer and the pin could
 * otherwise remove it.
 */
export interface ChunkPin {
  add(digests: Iterable<Uint8Array>): void
  release(): void
}

/** The connector's one writer (a lock file keeps out a second). */
export interface ChunkStore extends ChunkStoreReader {
  /** For each digest (32 bytes each, concatenated), whether the tenant holds it. */
  heldDigests(tenant: string, digests: Uint8Array): boolean[]
  /**
   * Checks each chunk (decompress, length, BLAKE3 against its digest), then encrypts and appends
   * them and makes them durable (fsync) before indexing them. All or nothing: a chunk that fails its
   * check refuses the whole call (BLOCKIO_CHUNK_DIGEST_MISMATCH, BLOCKIO_CHUNK_INVALID) and stores
   * none of them. A chunk already held is skipped.
   */
  putChunks(tenant: string, chunks: readonly IncomingChunk[]): Promise<void>
  /**
   * Records `token` for the volume when it is ≥ the highest seen (durably); refuses a lower one
   * with BLOCKIO_FENCE_STALE.
   */
  admitFencingToken(tenant: string, volumeId: string, token: number): Promise<void>
  /** The highest token seen for the volume, 0 when none. */
  fencingToken(tenant: string, volumeId: string): number
  /**
   * Makes a recovery point: refuses BLOCKIO_FENCE_STALE when the point's token is below the volume's
   * highest, BLOCKIO_POINT_INCOMPLETE when a digest of the map is not held, and an existing point id
   * with another map (BLOCKIO_POINT_EXISTS; the same map again returns the point: a replayed commit).
   */
  commitPoint(tenant: string, point: NewPoint): Promise<PointInfo>
  /** Removes the point's marker and map; its chunks stay until collectGarbage. False when absent. */
  deletePoint(tenant: string, pointId: string): Promise<boolean>
  pin(tenant: string): ChunkPin
  /** Removes chunks no point and no pin names; rewrites or deletes packs that became mostly dead. */
  collectGarbage(tenant: string, options?: { signal?: AbortSignal }): Promise<GcReport>
}

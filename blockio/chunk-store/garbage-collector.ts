/**
 * Garbage collection of one tenant (docs/FORMATS.md "Chunk store v1" / "Garbage collection").
 *
 * The *live set* is every digest named by a point map of the tenant or held by an open pin. An
 * index entry is *live* when its digest is live and the in-memory index points at it (a copy left
 * behind by an interrupted rewrite is not). A pack is *mostly dead* when its live entries fill less
 * than half of its entry bytes; it is rewritten: live entries copied byte for byte to a new pack,
 * which is synced and indexed before the old pack and index are deleted, so every live chunk is
 * findable in at least one pack at every moment.
 *
 * Preconditions: the caller holds the tenant's write lock (no put, commit or delete runs).
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import type { GcReport } from './chunk-store.js'
import {
  type ChunkLocation,
  DIGEST_LENGTH,
  encodeFileHeader,
  encodeIndexEntry,
  INDEX_ENTRY_LENGTH,
  INDEX_HEADER_LENGTH,
  INDEX_MAGIC,
  INDEX_VERSION,
  PACK_HEADER_LENGTH,
} from './pack-format.js'
import { isZeroDigest, MAP_SUFFIX, readPointMapFile } from './point-map-file.js'
import { errnoOf, listFolder, removeFileDurably, storeIo, writeFileCrashSafe } from './store-files.js'
import { digestKey, digestOfKey, type EntryToAppend, type TenantChunks } from './tenant-chunks.js'

/** A pack whose live entries fill less than this share of its entry bytes is rewritten. */
export const REWRITE_LIVE_RATIO = 0.5
/** Bytes of live entries read before they are appended to the new pack: bounds GC memory. */
const COPY_BATCH_BYTES = 16 * 1024 * 1024

export interface GarbageCollectionInput {
  chunks: TenantChunks
  pointsFolder: string
  isPinned: (key: string) => boolean
  packSizeLimit: number
  signal?: AbortSignal
}

/** Every digest named by a point map of the tenant; a damaged map stops the collection. */
async function liveDigestsOfPoints(tenant: string, pointsFolder: string): Promise<Set<string>> {
  const live = new Set<string>()
  for (const volumeId of await listFolder(pointsFolder)) {
    for (const name of await listFolder(join(pointsFolder, volumeId))) {
      if (!name.endsWith(MAP_SUFFIX) || name.startsWith('.')) continue
      const pointId = name.slice(0, -MAP_SUFFIX.length)
      const { digests } = await readPointMapFile(join(pointsFolder, volumeId, name), {
        tenant,
        volumeId,
        pointId,
      })
      for (let at = 0; at < digests.byteLength; at += DIGEST_LENGTH) {
        if (!isZeroDigest(digests, at)) live.add(digestKey(digests.subarray(at, at + DIGEST_LENGTH)))
      }
    }
  }
  return live
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size
  } catch (cause) {
    if (errnoOf(cause) === 'ENOENT') return undefined
    throw storeIo('stat', path, cause)
  }
}

export async function collectTenantGarbage(input: GarbageCollectionInput): Promise<GcReport> {
  const { chunks, isPinned } = input
  const report: GcReport = { chunksRemoved: 0, bytesReclaimed: 0, packsRewritten: 0, packsDeleted: 0 }
  // Every pack is treated alike: the next put starts a new one.
  await chunks.closeCurrentPack()
  const live = await liveDigestsOfPoints(chunks.tenant, input.pointsFolder)
  input.signal?.throwIfAborted()
  const { packs, indexes } = await chunks.listFiles()
  // From here to the last delete below no await: no pin can be added between the check and the removal.
  const livePerPack = new Map<number, { keys: string[]; bytes: number }>()
  for (const [key, where] of chunks.index) {
    if (!live.has(key) && !isPinned(key)) {
      chunks.index.delete(key)
      report.chunksRemoved++
      continue
    }
    let tally = livePerPack.get(where.pack)
    if (tally === undefined) {
      tally = { keys: [], bytes: 0 }
      livePerPack.set(where.pack, tally)
    }
    tally.keys.push(key)
    tally.bytes += where.length
  }
  for (const pack of [...new Set([...packs, ...indexes])].sort((a, b) => a - b)) {
    input.signal?.throwIfAborted()
    const tally = livePerPack.get(pack)
    const packSize = await sizeOf(chunks.packPath(pack))
    const indexSize = (await sizeOf(chunks.indexPath(pack))) ?? 0
    if (tally === undefined) {
      // Index first: a pack without an index is removed at the next open, never the reverse.
      await removeFileDurably(chunks.indexPath(pack))
      await chunks.forgetReadHandle(pack)
      await removeFileDurably(chunks.packPath(pack))
      report.packsDeleted++
      report.bytesReclaimed += (packSize ?? 0) + indexSize
      continue
    }
    // A missing pack keeps its index: reads and checks report BLOCKIO_PACK_MISSING.
    if (packSize === undefined) continue
    if (tally.bytes < (packSize - PACK_HEADER_LENGTH) * REWRITE_LIVE_RATIO) {
      await rewritePack(chunks, pack, tally.keys, input.packSizeLimit)
      report.packsRewritten++
      report.bytesReclaimed += packSize + indexSize - tally.bytes - tally.keys.length * INDEX_ENTRY_LENGTH
      continue
    }
    const entriesOnDisk = Math.floor((indexSize - INDEX_HEADER_LENGTH) / INDEX_ENTRY_LENGTH)
    if (entriesOnDisk > tally.keys.length) {
      await rewriteIndex(chunks, pack, tally.keys)
      report.bytesReclaimed += (entriesOnDisk - tally.keys.length) * INDEX_ENTRY_LENGTH
    }
  }
  return report
}

/** Copies the live entries of `pack` to the current pack, then deletes `pack` and its index. */
async function rewritePack(
  chunks: TenantChunks,
  pack: number,
  keys: string[],
  packSizeLimit: number,
): Promise<void> {
  let batch: EntryToAppend[] = []
  let batchBytes = 0
  for (const key of keys) {
    const where = chunks.index.get(key) as ChunkLocation
    const bytes = await chunks.readEntry(where)
    if (bytes.byteLength !== where.length) {
      throw new BlockioError(
        BlockioErrorCode.CHUNK_CORRUPT,
        `pack ${chunks.packPath(pack)} ends inside the entry at offset ${where.offset}; it was not rewritten`,
        {
          remediation:
            "Run a check of the tenant's points; delete the damaged ones and collect garbage again.",
        },
      )
    }
    batch.push({
      digest: digestOfKey(key),
      encoding: where.encoding,
      plainLength: where.plainLength,
      pieces: [bytes],
      length: bytes.byteLength,
    })
    batchBytes += bytes.byteLength
    if (batchBytes >= COPY_BATCH_BYTES) {
      await chunks.append(batch, packSizeLimit)
      batch = []
      batchBytes = 0
    }
  }
  await chunks.append(batch, packSizeLimit)
  await removeFileDurably(chunks.indexPath(pack))
  await chunks.forgetReadHandle(pack)
  await removeFileDurably(chunks.packPath(pack))
}

/** Replaces the index of `pack` crash-safely with its live entries only. */
async function rewriteIndex(chunks: TenantChunks, pack: number, keys: string[]): Promise<void> {
  const bytes = Buffer.alloc(INDEX_HEADER_LENGTH + keys.length * INDEX_ENTRY_LENGTH)
  encodeFileHeader(INDEX_MAGIC, INDEX_VERSION, pack).copy(bytes, 0)
  keys.forEach((key, i) => {
    const where = chunks.index.get(key) as ChunkLocation
    encodeIndexEntry(
      { ...where, digest: digestOfKey(key) },
      bytes,
      INDEX_HEADER_LENGTH + i * INDEX_ENTRY_LENGTH,
    )
  })
  await writeFileCrashSafe(chunks.indexPath(pack), bytes)
}

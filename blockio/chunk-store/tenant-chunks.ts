/**
 * One tenant's chunks on disk: its pack files, their index files, and the in-memory index built from
 * them (docs/FORMATS.md "Chunk store v1" / "Pack file", "Index file", "Write ordering", "Opening and
 * recovery").
 *
 * The *in-memory index* maps a digest (its 32 bytes as a latin1 string) to the chunk entry's
 * location. The *current pack* is the one the writer appends to; it is started fresh by the first
 * append after open or after the previous one reached the size limit. Readers use the same class
 * read-only: they never recover, append or delete.
 */
import { type FileHandle, open, stat, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import {
  type ChunkLocation,
  decodeIndexEntry,
  encodeFileHeader,
  encodeIndexEntry,
  INDEX_ENTRY_LENGTH,
  INDEX_HEADER_LENGTH,
  INDEX_MAGIC,
  INDEX_VERSION,
  type IndexEntry,
  indexFileName,
  PACK_HEADER_LENGTH,
  PACK_MAGIC,
  PACK_VERSION,
  packFileName,
  packNumberOf,
} from './pack-format.js'
import { errnoOf, FILE_MODE, listFolder, removeFileDurably, storeIo, syncFolder } from './store-files.js'

/** Read handles kept open per tenant: enough for a restore walking a few packs at once. */
const MAX_OPEN_READ_HANDLES = 32
/** Buffers per writev call, under Linux's IOV_MAX of 1024. */
const MAX_IOVECS = 1000

export function digestKey(digest: Uint8Array): string {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('latin1')
}

export function digestOfKey(key: string): Buffer {
  return Buffer.from(key, 'latin1')
}

/** A chunk entry to append: its bytes as pieces (header, ciphertext, tag — or one raw copy). */
export interface EntryToAppend {
  digest: Uint8Array
  encoding: number
  plainLength: number
  pieces: Buffer[]
  length: number
}

interface CurrentPack {
  pack: number
  packHandle: FileHandle
  indexHandle: FileHandle
  size: number
  indexSize: number
}

/** What one index file holds: its valid entries and the byte length they end at. */
interface IndexFileContents {
  entries: IndexEntry[]
  validLength: number
  fileLength: number
}

export class TenantChunks {
  readonly tenant: string
  readonly folder: string
  readonly packsFolder: string
  readonly index = new Map<string, ChunkLocation>()
  readonly #readHandles = new Map<number, FileHandle>()
  /** Index file sizes seen by the last load: a reader reloads when they change. */
  #seen = ''
  #current: CurrentPack | undefined
  #highestPack = 0

  constructor(root: string, tenant: string) {
    this.tenant = tenant
    this.folder = join(root, 'tenants', tenant)
    this.packsFolder = join(this.folder, 'packs')
  }

  packPath(pack: number): string {
    return join(this.packsFolder, packFileName(pack))
  }

  indexPath(pack: number): string {
    return join(this.packsFolder, indexFileName(pack))
  }

  get currentPack(): number | undefined {
    return this.#current?.pack
  }

  /** Pack and index numbers present on disk. */
  async listFiles(): Promise<{ packs: Set<number>; indexes: Set<number> }> {
    const packs = new Set<number>()
    const indexes = new Set<number>()
    for (const name of await listFolder(this.packsFolder)) {
      const pack = packNumberOf(name, '.pack')
      if (pack !== undefined) packs.add(pack)
      const idx = packNumberOf(name, '.idx')
      if (idx !== undefined) indexes.add(idx)
    }
    return { packs, indexes }
  }

  async #readIndexFile(pack: number): Promise<IndexFileContents | undefined> {
    const path = this.indexPath(pack)
    let bytes: Buffer
    try {
      const handle = await open(path, 'r')
      try {
        const { size } = await handle.stat()
        bytes = Buffer.allocUnsafe(size)
        let filled = 0
        while (filled < size) {
          const { bytesRead } = await handle.read(bytes, filled, size - filled, filled)
          if (bytesRead === 0) break
          filled += bytesRead
        }
        bytes = bytes.subarray(0, filled)
      } finally {
        await handle.close()
      }
    } catch (cause) {
      if (errnoOf(cause) === 'ENOENT') return undefined
      throw storeIo('read', path, cause)
    }
    const entries: IndexEntry[] = []
    let validLength = Math.min(bytes.byteLength, INDEX_HEADER_LENGTH)
    for (
      let at = INDEX_HEADER_LENGTH;
      at + INDEX_ENTRY_LENGTH <= bytes.byteLength;
      at += INDEX_ENTRY_LENGTH
    ) {
      const entry = decodeIndexEntry(bytes, at, pack)
      if (entry === undefined) continue
      entries.push(entry)
      validLength = at + INDEX_ENTRY_LENGTH
    }
    return { entries, validLength, fileLength: bytes.byteLength }
  }

  /** (Re)builds the in-memory index from every index file; the highest pack wins a duplicate. */
  async load(): Promise<void> {
    const { packs, indexes } = await this.listFiles()
    const numbers = [...indexes].sort((a, b) => a - b)
    this.index.clear()
    // Pack numbers of deleted packs may be used again: never read a new pack through an old handle.
    for (const pack of [...this.#readHandles.keys()]) await this.forgetReadHandle(pack)
    const sizes: string[] = []
    for (const pack of numbers) {
      const contents = await this.#readIndexFile(pack)
      if (contents === undefined) continue
      sizes.push(`${pack}:${contents.fileLength}`)
      for (const entry of contents.entries) {
        const { digest, ...location } = entry
        this.index.set(digestKey(digest), location)
      }
    }
    this.#seen = sizes.join(',')
    let highest = 0
    for (const pack of [...packs, ...indexes]) highest = Math.max(highest, pack)
    this.#highestPack = highest
  }

  /** For readers: reloads when any index file was added, removed or grew since the last load. */
  async refresh(): Promise<boolean> {
    const { indexes } = await this.listFiles()
    const sizes: string[] = []
    for (const pack of [...indexes].sort((a, b) => a - b)) {
      try {
        sizes.push(`${pack}:${(await stat(this.indexPath(pack))).size}`)
      } catch {}
    }
    if (sizes.join(',') === this.#seen) return false
    await this.load()
    return true
  }

  /**
   * Writer only, before load: drops torn index tails, truncates pack tails past their last indexed
   * entry, deletes packs without an index and empty indexes without a pack.
   */
  async recover(): Promise<void> {
    const { packs, indexes } = await this.listFiles()
    for (const pack of indexes) {
      const contents = await this.#readIndexFile(pack)
      if (contents === undefined) continue
      if (contents.entries.length === 0) {
        // No chunk is indexed in this pack: an interrupted start, or every entry torn.
        await removeFileDurably(this.indexPath(pack))
        await removeFileDurably(this.packPath(pack))
        packs.delete(pack)
        continue
      }
      if (contents.validLength < contents.fileLength)
        await this.#truncate(this.indexPath(pack), contents.validLength)
      if (!packs.has(pack)) continue
      let end = PACK_HEADER_LENGTH
      for (const entry of contents.entries) end = Math.max(end, entry.offset + entry.length)
      const { size } = await stat(this.packPath(pack)).catch((cause) => {
        throw storeIo('stat', this.packPath(pack), cause)
      })
      if (size > end) await this.#truncate(this.packPath(pack), end)
    }
    for (const pack of packs) {
      if (!indexes.has(pack)) await removeFileDurably(this.packPath(pack))
    }
  }

  async #truncate(path: string, length: number): Promise<void> {
    try {
      await truncate(path, length)
      const handle = await open(path, 'r+')
      try {
        await handle.sync()
      } finally {
        await handle.close()
      }
    } catch (cause) {
      throw storeIo('truncate', path, cause)
    }
  }

  async #readHandle(pack: number): Promise<FileHandle> {
    const open_ = this.#readHandles.get(pack)
    if (open_ !== undefined) return open_
    const path = this.packPath(pack)
    let handle: FileHandle
    try {
      handle = await open(path, 'r')
    } catch (cause) {
      if (errnoOf(cause) === 'ENOENT') {
        throw new BlockioError(BlockioErrorCode.PACK_MISSING, `pack file ${path} is missing`, {
          remediation: 'Restore the store folder from backup, or delete the points that name it and resend.',
          cause,
        })
      }
      throw storeIo('open', path, cause)
    }
    if (this.#readHandles.size >= MAX_OPEN_READ_HANDLES) {
      const [oldest, oldHandle] = this.#readHandles.entries().next().value as [number, FileHandle]
      this.#readHandles.delete(oldest)
      await oldHandle.close().catch(() => {})
    }
    this.#readHandles.set(pack, handle)
    return handle
  }

  /** The bytes of the chunk entry at `where`; a short read gives fewer bytes (the caller reports it). */
  async readEntry(where: ChunkLocation): Promise<Buffer> {
    const handle = await this.#readHandle(where.pack)
    const bytes = Buffer.allocUnsafe(where.length)
    let filled = 0
    try {
      while (filled < where.length) {
        const { bytesRead } = await handle.read(bytes, filled, where.length - filled, where.offset + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
    } catch (cause) {
      throw storeIo('read', this.packPath(where.pack), cause)
    }
    return bytes.subarray(0, filled)
  }

  async forgetReadHandle(pack: number): Promise<void> {
    const handle = this.#readHandles.get(pack)
    this.#readHandles.delete(pack)
    await handle?.close().catch(() => {})
  }

  async #startPack(): Promise<CurrentPack> {
    const pack = ++this.#highestPack
    const packHandle = await open(this.packPath(pack), 'wx', FILE_MODE)
    let indexHandle: FileHandle | undefined
    try {
      await packHandle.write(encodeFileHeader(PACK_MAGIC, PACK_VERSION, pack), 0, PACK_HEADER_LENGTH, 0)
      await packHandle.sync()
      indexHandle = await open(this.indexPath(pack), 'wx', FILE_MODE)
      await indexHandle.write(encodeFileHeader(INDEX_MAGIC, INDEX_VERSION, pack), 0, INDEX_HEADER_LENGTH, 0)
      await indexHandle.sync()
      await syncFolder(this.packsFolder)
    } catch (cause) {
      await packHandle.close().catch(() => {})
      await indexHandle?.close().catch(() => {})
      throw cause
    }
    return { pack, packHandle, indexHandle, size: PACK_HEADER_LENGTH, indexSize: INDEX_HEADER_LENGTH }
  }

  /** Ends the current pack: the next append starts a new one. */
  async closeCurrentPack(): Promise<void> {
    const current = this.#current
    this.#current = undefined
    if (current === undefined) return
    await current.packHandle.close().catch(() => {})
    await current.indexHandle.close().catch(() => {})
  }

  /**
   * Appends `entries` to the current pack (starting one when there is none or it reached
   * `packSizeLimit`), one writev and one fsync, then their index entries, one write and one fsync,
   * then names them in the in-memory index. On failure nothing is indexed, the pack is closed and
   * its unindexed tail is cut at the next open.
   */
  async append(entries: readonly EntryToAppend[], packSizeLimit: number): Promise<void> {
    if (entries.length === 0) return
    if (this.#current !== undefined && this.#current.size >= packSizeLimit) await this.closeCurrentPack()
    let current: CurrentPack
    try {
      if (this.#current === undefined) this.#current = await this.#startPack()
      current = this.#current
    } catch (cause) {
      throw storeIo('start a pack in', this.packsFolder, cause)
    }
    const indexBytes = Buffer.allocUnsafe(entries.length * INDEX_ENTRY_LENGTH)
    const located: IndexEntry[] = []
    let offset = current.size
    const pieces: Buffer[] = []
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]
      const where: IndexEntry = {
        digest: entry.digest,
        pack: current.pack,
        offset,
        length: entry.length,
        plainLength: entry.plainLength,
        encoding: entry.encoding,
      }
      encodeIndexEntry(where, indexBytes, i * INDEX_ENTRY_LENGTH)
      located.push(where)
      for (const piece of entry.pieces) pushPiece(pieces, piece)
      offset += entry.length
    }
    try {
      await writevAll(current.packHandle, pieces, current.size)
      await current.packHandle.datasync()
      await writevAll(current.indexHandle, [indexBytes], current.indexSize)
      await current.indexHandle.datasync()
    } catch (cause) {
      await this.closeCurrentPack()
      throw storeIo('append to', this.packPath(current.pack), cause)
    }
    current.size = offset
    current.indexSize += indexBytes.byteLength
    for (const { digest, ...location } of located) this.index.set(digestKey(digest), location)
  }

  async close(): Promise<void> {
    await this.closeCurrentPack()
    for (const pack of [...this.#readHandles.keys()]) await this.forgetReadHandle(pack)
  }
}

/** Appends `piece`, merged into the last piece when it continues it in memory (one iovec, not many). */
function pushPiece(pieces: Buffer[], piece: Buffer): void {
  const last = pieces.at(-1)
  if (
    last !== undefined &&
    last.buffer === piece.buffer &&
    last.byteOffset + last.byteLength === piece.byteOffset
  ) {
    pieces[pieces.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.byteLength + piece.byteLength)
    return
  }
  pieces.push(piece)
}

async function writevAll(handle: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let at = 0
  let pending = buffers
  while (pending.length > 0) {
    const group = pending.slice(0, MAX_IOVECS)
    const want = group.reduce((sum, piece) => sum + piece.byteLength, 0)
    const { bytesWritten } = await handle.writev(group, position + at)
    if (bytesWritten === 0 && want > 0) throw new Error('write made no progress')
    at += bytesWritten
    if (bytesWritten === want) {
      pending = pending.slice(group.length)
      continue
    }
    // A partial write: drop the pieces written, cut the one written in part.
    let skip = bytesWritten
    const rest: Buffer[] = []
    for (const piece of pending) {
      if (skip >= piece.byteLength) {
        skip -= piece.byteLength
        continue
      }
      rest.push(skip > 0 ? piece.subarray(skip) : piece)
      skip = 0
    }
    pending = rest
  }
}

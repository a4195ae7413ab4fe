/**
 * Reading a chunk store folder (docs/FORMATS.md "Chunk store v1"): points, block maps, chunks and
 * checks. The reader never writes and takes no lock, so restore and check run beside the
 * connector. It loads every tenant's index files at open; when a digest or a pack is not found it
 * reloads the index files that changed since (the writer may have added chunks or rewritten packs).
 */
import { join } from 'node:path'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import { checkPointChunks } from './check-point.js'
import { openChunk, tenantAad } from './chunk-codec.js'
import type { BlockMap, CheckOptions, CheckReport, ChunkStoreReader, PointInfo } from './chunk-store.js'
import { MAP_SUFFIX, pointNotFound, readPointMapFile } from './point-map-file.js'
import { checkId, listFolder } from './store-files.js'
import { digestKey, TenantChunks } from './tenant-chunks.js'
import type { TenantKeyring } from './tenant-keyring.js'

export class FileChunkStoreReader implements ChunkStoreReader {
  protected readonly root: string
  protected readonly keyring: TenantKeyring
  protected readonly tenants = new Map<string, TenantChunks>()
  protected closed = false
  readonly #writes: boolean

  protected constructor(root: string, keyring: TenantKeyring, writes: boolean) {
    this.root = root
    this.keyring = keyring
    this.#writes = writes
  }

  static async open(root: string, keyring: TenantKeyring): Promise<FileChunkStoreReader> {
    const reader = new FileChunkStoreReader(root, keyring, false)
    await reader.loadTenants()
    return reader
  }

  /** Loads every tenant folder (writers recover each first). */
  protected async loadTenants(): Promise<void> {
    for (const tenant of await listFolder(join(this.root, 'tenants'))) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(tenant)) continue
      await this.loadTenant(tenant)
    }
  }

  protected async loadTenant(tenant: string): Promise<TenantChunks> {
    const chunks = new TenantChunks(this.root, tenant)
    if (this.#writes) await chunks.recover()
    await chunks.load()
    // Unwraps the key now, so a wrong master key is refused at open, not at the first read.
    await this.keyring.dataKey(tenant)
    this.tenants.set(tenant, chunks)
    return chunks
  }

  protected checkOpen(): void {
    if (this.closed) {
      throw new BlockioError(BlockioErrorCode.STORE_CLOSED, 'the chunk store was used after close()', {
        remediation: 'Finish every call before closing the store.',
      })
    }
  }

  protected pointsFolder(tenant: string, volumeId?: string): string {
    const folder = join(this.root, 'tenants', tenant, 'points')
    return volumeId === undefined ? folder : join(folder, volumeId)
  }

  /** The folder of the volume holding `pointId`, or undefined. */
  protected async volumeOfPoint(tenant: string, pointId: string): Promise<string | undefined> {
    for (const volumeId of await listFolder(this.pointsFolder(tenant))) {
      const names = await listFolder(this.pointsFolder(tenant, volumeId))
      if (names.includes(`${pointId}${MAP_SUFFIX}`)) return volumeId
    }
    return undefined
  }

  async listPoints(tenant: string, volumeId?: string): Promise<PointInfo[]> {
    this.checkOpen()
    checkId('tenant', tenant)
    if (volumeId !== undefined) checkId('volumeId', volumeId)
    const volumes = volumeId === undefined ? await listFolder(this.pointsFolder(tenant)) : [volumeId]
    const points: PointInfo[] = []
    for (const volume of volumes) {
      for (const name of await listFolder(this.pointsFolder(tenant, volume))) {
        if (!name.endsWith(MAP_SUFFIX) || name.startsWith('.')) continue
        const pointId = name.slice(0, -MAP_SUFFIX.length)
        try {
          const map = await readPointMapFile(join(this.pointsFolder(tenant, volume), name), {
            tenant,
            volumeId: volume,
            pointId,
          })
          points.push(map.info)
        } catch (cause) {
          // A damaged or vanished map is not a point; readBlockMap and checks report it by name.
          if (cause instanceof BlockioError && cause.code !== BlockioErrorCode.STORE_IO) continue
          throw cause
        }
      }
    }
    return points.sort(
      (a, b) => a.createdAt - b.createdAt || (a.pointId < b.pointId ? -1 : a.pointId > b.pointId ? 1 : 0),
    )
  }

  async readBlockMap(tenant: string, pointId: string): Promise<BlockMap> {
    this.checkOpen()
    checkId('tenant', tenant)
    checkId('pointId', pointId)
    const volumeId = await this.volumeOfPoint(tenant, pointId)
    if (volumeId === undefined) throw pointNotFound(tenant, pointId)
    return readPointMapFile(join(this.pointsFolder(tenant, volumeId), `${pointId}${MAP_SUFFIX}`), {
      tenant,
      volumeId,
      pointId,
    })
  }

  hasChunk(tenant: string, digest: Uint8Array): boolean {
    this.checkOpen()
    return this.tenants.get(tenant)?.index.has(digestKey(digest)) ?? false
  }

  /** Readers only: picks up tenants and index entries the writer added since open. */
  protected async refreshTenant(tenant: string): Promise<TenantChunks | undefined> {
    if (this.#writes) return this.tenants.get(tenant)
    const known = this.tenants.get(tenant)
    if (known === undefined) {
      if (!(await listFolder(join(this.root, 'tenants'))).includes(tenant)) return undefined
      return this.loadTenant(tenant)
    }
    await known.refresh()
    return known
  }

  async readChunk(tenant: string, digest: Uint8Array): Promise<Uint8Array> {
    this.checkOpen()
    checkId('tenant', tenant)
    const key = digestKey(digest)
    let chunks = this.tenants.get(tenant)
    if (chunks?.index.has(key) !== true) chunks = await this.refreshTenant(tenant)
    for (let attempt = 0; ; attempt++) {
      const where = chunks?.index.get(key)
      if (chunks === undefined || where === undefined) {
        throw new BlockioError(
          BlockioErrorCode.CHUNK_MISSING,
          `tenant ${tenant} holds no chunk ${Buffer.from(digest).toString('hex')}`,
          { remediation: 'Resend the block (a full scan of the volume); check the points that name it.' },
        )
      }
      try {
        const entry = await chunks.readEntry(where)
        const dataKey = await this.keyring.dataKey(tenant)
        if (dataKey === undefined) {
          throw new BlockioError(
            BlockioErrorCode.KEY_MISSING,
            `tenant ${tenant} holds packs but no key file`,
            {
              remediation: `Restore ${join(chunks.folder, 'key')} from backup.`,
            },
          )
        }
        return openChunk(dataKey, tenantAad(tenant), entry, digest, where, chunks.packPath(where.pack))
      } catch (cause) {
        // A reader may race a pack rewrite: the chunk moved to a newer pack.
        const moved =
          !this.#writes &&
          attempt === 0 &&
          cause instanceof BlockioError &&
          cause.code === BlockioErrorCode.PACK_MISSING
        if (!moved || !(await chunks.refresh())) throw cause
      }
    }
  }

  async checkPoint(tenant: string, pointId: string, options: CheckOptions = {}): Promise<CheckReport> {
    const map = await this.readBlockMap(tenant, pointId)
    return checkPointChunks(map, (digest) => this.readChunk(tenant, digest), options)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.closeTenants()
  }

  protected async closeTenants(): Promise<void> {
    for (const chunks of this.tenants.values()) await chunks.close()
  }
}

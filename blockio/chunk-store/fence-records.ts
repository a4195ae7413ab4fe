/**
 * The highest fencing token seen per volume (docs/FORMATS.md "Chunk store v1" / "Fence file"),
 * held in memory and in `tenants/<tenant>/volumes/<volumeId>.fence`. A token is *admitted* when it
 * is at least the highest: a higher one is made durable before admit returns; a lower one is refused
 * with BLOCKIO_FENCE_STALE, so a node that lost its lease cannot write after its successor started.
 *
 * Preconditions of admit: the caller holds the tenant's write lock.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import { ensureFolder, listFolder, storeIo, writeFileCrashSafe } from './store-files.js'

const FENCE_FORMAT = 'lifeboat-fence'
const FENCE_VERSION = 1
const FENCE_SUFFIX = '.fence'

export class FenceRecords {
  readonly #root: string
  readonly #tokens = new Map<string, number>()

  constructor(root: string) {
    this.#root = root
  }

  #folder(tenant: string): string {
    return join(this.#root, 'tenants', tenant, 'volumes')
  }

  async load(): Promise<void> {
    for (const tenant of await listFolder(join(this.#root, 'tenants'))) {
      for (const name of await listFolder(this.#folder(tenant))) {
        if (!name.endsWith(FENCE_SUFFIX) || name.startsWith('.')) continue
        const path = join(this.#folder(tenant), name)
        let record: { format?: unknown; version?: unknown; token?: unknown }
        try {
          record = JSON.parse(await readFile(path, 'utf8'))
        } catch (cause) {
          if (cause instanceof SyntaxError) throw damaged(path)
          throw storeIo('read', path, cause)
        }
        if (
          record?.format !== FENCE_FORMAT ||
          record.version !== FENCE_VERSION ||
          !Number.isSafeInteger(record.token)
        ) {
          throw damaged(path)
        }
        this.#tokens.set(`${tenant}/${name.slice(0, -FENCE_SUFFIX.length)}`, record.token as number)
      }
    }
  }

  get(tenant: string, volumeId: string): number {
    return this.#tokens.get(`${tenant}/${volumeId}`) ?? 0
  }

  async admit(tenant: string, volumeId: string, token: number): Promise<void> {
    if (!Number.isSafeInteger(token) || token < 0) {
      throw new BlockioError(
        BlockioErrorCode.INVALID_OPTION,
        `fencing token ${token} is not a non-negative integer`,
        {
          remediation: 'Pass the fencing token of the job (docs/PROTOCOL.md §8).',
        },
      )
    }
    const highest = this.get(tenant, volumeId)
    if (token < highest) {
      throw new BlockioError(
        BlockioErrorCode.FENCE_STALE,
        `fencing token ${token} of volume ${volumeId} (tenant ${tenant}) is below the highest seen, ${highest}`,
        { remediation: 'None: a newer job owns this volume; this one must stop.' },
      )
    }
    if (token === highest) return
    const folder = this.#folder(tenant)
    await ensureFolder(folder).catch((cause) => {
      throw storeIo('create', folder, cause)
    })
    const record = { format: FENCE_FORMAT, version: FENCE_VERSION, token }
    await writeFileCrashSafe(
      join(folder, `${volumeId}${FENCE_SUFFIX}`),
      Buffer.from(`${JSON.stringify(record)}\n`),
    )
    this.#tokens.set(`${tenant}/${volumeId}`, token)
  }
}

function damaged(path: string): BlockioError {
  return new BlockioError(BlockioErrorCode.STORE_CORRUPT, `fence file ${path} is damaged`, {
    remediation:
      'Restore it from backup, or write the highest token the coordinator issued for the volume into it.',
  })
}

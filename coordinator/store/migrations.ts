/**
 * The numbered migrations of the classic-level store's layout (docs/STORE.md "Schema versions").
 *
 * The *schema version* of a store is the number of the last migration applied to it, kept in the
 * schema record (`!meta!schema`); a store that has none is at version 0. Migration N takes a store at
 * version N-1 to version N. Its operations and the new schema record are committed as ONE batch, so a
 * crash leaves the store at N-1 or at N, never between; a migration that cannot fit one batch must be
 * written to be re-run safely from the start.
 *
 * Once released, a migration is never edited or removed: stores in the field were written by it.
 * A change of layout is a new migration appended to MIGRATIONS.
 */
import type { ClassicLevel } from 'classic-level'
import { corrupt } from './errors.js'

export type StoreDatabase = ClassicLevel<string, string>

/** A put or del of the root database, in its UTF-8 key and value encodings. */
export type StoreOperation = { type: 'put'; key: string; value: string } | { type: 'del'; key: string }

export interface Migration {
  /** The schema version the store is at after this migration: 1, 2, 3, … in order. */
  readonly version: number
  readonly description: string
  /** Reads what it needs and returns the operations that take the store from `version - 1`. */
  up(db: StoreDatabase): Promise<StoreOperation[]>
}

/** Every key layout 1 writes (docs/STORE.md, schema version 1). */
const LAYOUT_1_KEY =
  /^(!meta!schema|!tenants![^!"]+|!nodes![^!"]+|!token-hashes![0-9a-f]{64}|!t!![^!"]+!!(site|node|token)![^!"]+)$/

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description:
      'Initial layout: tenants, per-tenant sites, nodes and enrolment tokens, the node directory and token hashes',
    async up(db) {
      // Layout 1 needs no records of its own: its sublevels exist as soon as a key is written under
      // them. What it must make sure of is that the directory was empty, so that a LevelDB written by
      // another program is refused instead of being adopted and mixed with ours.
      for await (const key of db.keys({ limit: 1 })) {
        throw corrupt(
          `the database holds keys (the first is ${JSON.stringify(key.slice(0, 40))}) but no schema record: it is not a Lifeboat coordinator store`,
        )
      }
      return []
    },
  },
  {
    version: 2,
    description:
      'Protected VMs and volumes, plans and schedule states, jobs with their indexes and fencing counters, job logs, recovery points, notification channels',
    async up(db) {
      // Layout 2 only adds key spaces; no layout-1 record changes. What it must make sure of is that
      // those key spaces start empty, so that indexes never begin with entries no record explains:
      // every key must be one layout 1 writes.
      for await (const key of db.keys()) {
        if (!LAYOUT_1_KEY.test(key)) {
          throw corrupt(
            `a schema-1 store holds the key ${JSON.stringify(key.slice(0, 80))}, which layout 1 never writes`,
          )
        }
      }
      return []
    },
  },
]

/** The schema version this build writes and reads: the last migration's. */
export const SCHEMA_VERSION = MIGRATIONS.length

/** Throws unless `migrations` are numbered 1, 2, 3, … with no gap: a bug in this build otherwise. */
export function checkMigrationOrder(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(`migration at index ${index} has version ${migration.version}, expected ${index + 1}`)
    }
  })
}

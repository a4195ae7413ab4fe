/**
 * Bringing a classic-level store to this build's schema version when it opens: read the schema
 * record, refuse a store newer than this build, apply the missing migrations one batch each.
 *
 * The *schema record* (`!meta!schema`) is `{"format":"lifeboat-coordinator-store","version":N}`. No
 * record means version 0 (a new, empty directory); a record that does not parse, or names another
 * format, is STORE_CORRUPT. Each migration's operations and the schema record that names its version
 * are one `db.batch()`, so a crash during migration leaves the store at the last whole version and
 * the next open carries on from there.
 */
import { corrupt, StoreError, StoreErrorCode } from './errors.js'
import { decodeSchema, encodeRecord, SCHEMA_KEY, type SchemaRecord, STORE_FORMAT } from './level-layout.js'
import { checkMigrationOrder, type Migration, type StoreDatabase } from './migrations.js'

/** The schema version the store is at: 0 when it has no schema record yet. */
export async function readSchemaVersion(db: StoreDatabase): Promise<number> {
  let raw: string | undefined
  try {
    raw = await db.get(SCHEMA_KEY)
  } catch (cause) {
    throw corrupt('the schema record cannot be read', cause)
  }
  return raw === undefined ? 0 : decodeSchema(SCHEMA_KEY, raw).version
}

/**
 * Applies every migration in `migrations` above the store's version, in order, each as one batch
 * with its schema record, and returns the version the store is at afterwards.
 * Preconditions: `db` is open; nothing else writes to it meanwhile (the caller has not yet exposed it).
 * Throws STORE_VERSION_TOO_NEW when the store is newer than the last migration, STORE_CORRUPT when
 * its schema record is unreadable, and whatever a migration throws (the store stays at the version
 * before that migration).
 */
export async function migrateToLatest(
  db: StoreDatabase,
  migrations: readonly Migration[],
  location: string,
  sync: boolean,
): Promise<number> {
  checkMigrationOrder(migrations)
  const known = migrations.length
  let version = await readSchemaVersion(db)
  if (version > known) {
    throw new StoreError(
      StoreErrorCode.VERSION_TOO_NEW,
      `the metadata store at ${location} has schema version ${version}, but this coordinator reads versions up to ${known}`,
      {
        remediation: `Upgrade the coordinator to the release that wrote schema version ${version} or a later one; a coordinator is never downgraded over a store it has migrated.`,
      },
    )
  }
  for (const migration of migrations.slice(version)) {
    const operations = await migration.up(db)
    const record: SchemaRecord = { format: STORE_FORMAT, version: migration.version }
    await db.batch([...operations, { type: 'put', key: SCHEMA_KEY, value: encodeRecord(record) }], { sync })
    version = migration.version
  }
  return version
}

// The classic-level store against the conformance suite, each test in its own temp directory.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { describe } from 'vitest'
import { SCHEMA_KEY, STORE_FORMAT } from '../../coordinator/store/level-layout.js'
import { LevelMetadataStore } from '../../coordinator/store/level-store.js'
import type { MetadataStore } from '../../coordinator/store/metadata-store.js'
import { MIGRATIONS, SCHEMA_VERSION } from '../../coordinator/store/migrations.js'
import { type StoreFixture, storeConformance } from './store.conformance.js'

async function putRaw(location: string, key: string, value: string): Promise<void> {
  const db = new ClassicLevel<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  await db.put(key, value)
  await db.close()
}

async function levelFixture(): Promise<StoreFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-store-'))
  const location = join(dir, 'store')
  const stores: MetadataStore[] = []
  return {
    latestSchemaVersion: SCHEMA_VERSION,
    newStore() {
      const store = new LevelMetadataStore({ location })
      stores.push(store)
      return store
    },
    newVersion1Store() {
      const store = new LevelMetadataStore({ location, migrations: MIGRATIONS.slice(0, 1) })
      stores.push(store)
      return store
    },
    setStoredSchemaVersion: (version) =>
      putRaw(location, SCHEMA_KEY, JSON.stringify({ format: STORE_FORMAT, version })),
    corruptSchemaRecord: () => putRaw(location, SCHEMA_KEY, '{"format":'),
    async cleanup() {
      for (const store of stores) await store.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

describe('LevelMetadataStore', () => {
  storeConformance(levelFixture)
})

// The in-memory store against the conformance suite; its volume stands for the store's directory.
import { describe } from 'vitest'
import {
  MEMORY_SCHEMA_VERSION,
  MemoryMetadataStore,
  MemoryStoreVolume,
} from '../../coordinator/store/memory-store.js'
import type { MetadataStore } from '../../coordinator/store/metadata-store.js'
import { type StoreFixture, storeConformance } from './store.conformance.js'

async function memoryFixture(): Promise<StoreFixture> {
  const volume = new MemoryStoreVolume()
  const stores: MetadataStore[] = []
  return {
    latestSchemaVersion: MEMORY_SCHEMA_VERSION,
    newStore() {
      const store = new MemoryMetadataStore({ volume })
      stores.push(store)
      return store
    },
    newVersion1Store() {
      const store = new MemoryMetadataStore({ volume, schemaVersion: 1 })
      stores.push(store)
      return store
    },
    async setStoredSchemaVersion(version) {
      volume.schemaVersion = version
    },
    async corruptSchemaRecord() {
      volume.schemaVersion = 'not a version'
    },
    async cleanup() {
      for (const store of stores) await store.close()
    },
  }
}

describe('MemoryMetadataStore', () => {
  storeConformance(memoryFixture)
})

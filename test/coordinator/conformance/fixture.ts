/**
 * What the conformance suite needs from a backend, and the per-test setup every part of it shares.
 *
 * A *fixture* is one backing storage (a temp directory, a memory volume) over which the suite can make
 * as many store objects as it likes; each test gets a fresh fixture and one opened store on it, and
 * the fixture closes every store it made and removes its storage afterwards.
 */
import { afterEach, beforeEach, expect } from 'vitest'
import type { MetadataStore } from '../../../coordinator/store/metadata-store.js'

export interface StoreFixture {
  /** A new, unopened store over this fixture's storage: it sees what earlier stores committed. */
  newStore(): MetadataStore
  /**
   * A new, unopened store that brings the storage only to schema version 1, by the version-1 code
   * path (the level store with migration 1 alone): what a coordinator before schema 2 left behind.
   */
  newVersion1Store(): MetadataStore
  /** The schema version a fresh store of this backend is at once opened. */
  readonly latestSchemaVersion: number
  /** Overwrites the stored schema version (all stores closed). */
  setStoredSchemaVersion(version: number): Promise<void>
  /** Makes the stored schema record unreadable (all stores closed). */
  corruptSchemaRecord(): Promise<void>
  /** Closes every store made by newStore() and removes the storage. */
  cleanup(): Promise<void>
}

export type StoreFixtureFactory = () => Promise<StoreFixture>

/** A fixed clock: tests pass times explicitly, so nothing depends on the real one. */
export const T0 = 1_700_000_000_000
export const MINUTE = 60_000

export interface StoreContext {
  fixture: StoreFixture
  store: MetadataStore
}

/** Registers hooks that give each test a fresh fixture and an opened store; read them inside tests. */
export function freshStore(factory: StoreFixtureFactory): StoreContext {
  const context = {} as StoreContext
  beforeEach(async () => {
    context.fixture = await factory()
    context.store = context.fixture.newStore()
    await context.store.open()
  })
  afterEach(async () => {
    await context.fixture.cleanup()
  })
  return context
}

/** Awaits `promise` and checks it rejected with a coded error `code` whose fields are all filled. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error: unknown = await promise.then(
    (value) => {
      throw new Error(`expected ${code}, but it resolved with ${JSON.stringify(value)}`)
    },
    (reason: unknown) => reason,
  )
  expect(error).toMatchObject({ code })
  const body = error as { message: unknown; remediation: unknown; retryable: unknown }
  expect(typeof body.message).toBe('string')
  expect(typeof body.remediation).toBe('string')
  expect((body.remediation as string).length).toBeGreaterThan(0)
  expect(typeof body.retryable).toBe('boolean')
}

/** A tenant `tenantId` with one site `siteId`, created at T0. */
export async function tenantWithSite(store: MetadataStore, tenantId: string, siteId: string): Promise<void> {
  await store.createTenant({ id: tenantId, name: `Tenant ${tenantId}` }, T0)
  await store.createSite(tenantId, { id: siteId, name: `Site ${siteId}` }, T0)
}

/** A plausible libp2p peer id (base58btc Ed25519 form), distinct for each `n`. */
export function peerId(n: number): string {
  return `12D3KooW${String(n).padStart(44, 'A')}`
}

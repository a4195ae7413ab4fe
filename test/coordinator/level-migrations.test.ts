// The classic-level store's schema record and migration runner: fresh stores, foreign databases,
// later migrations, failed migrations and stores newer than the build.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SCHEMA_KEY } from '../../coordinator/store/level-layout.js'
import { createLevelStore } from '../../coordinator/store/level-store.js'
import { MIGRATIONS, type Migration, SCHEMA_VERSION } from '../../coordinator/store/migrations.js'
import { expectCode, peerId, T0 } from './conformance/fixture.js'

async function withRaw<T>(
  location: string,
  use: (db: ClassicLevel<string, string>) => Promise<T>,
): Promise<T> {
  const db = new ClassicLevel<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  try {
    return await use(db)
  } finally {
    await db.close()
  }
}

const addsMarker = (version: number, key: string): Migration => ({
  version,
  description: `test migration ${version}`,
  async up() {
    return [{ type: 'put', key, value: '{}' }]
  },
})

const fails = (version: number): Migration => ({
  version,
  description: `failing test migration ${version}`,
  async up() {
    throw new Error('migration failed on purpose')
  },
})

describe('classic-level schema versions and migrations', () => {
  let dir: string
  let location: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-migrate-'))
    location = join(dir, 'store')
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('the released migrations are numbered 1, 2, … and this build is at the last', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, n) => n + 1))
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length)
    expect(SCHEMA_VERSION).toBe(2)
  })

  it('a fresh directory gets migrations 1 and 2 and their schema record, nothing else', async () => {
    const store = createLevelStore({ location })
    await store.open()
    expect(await store.schemaVersion()).toBe(2)
    await store.close()
    expect(await withRaw(location, (db) => db.iterator().all())).toEqual([
      [SCHEMA_KEY, '{"format":"lifeboat-coordinator-store","version":2}'],
    ])
  })

  it('a schema-1 store written by the version-1 code path is migrated to 2 on open, records kept', async () => {
    const v1 = createLevelStore({ location, migrations: MIGRATIONS.slice(0, 1) })
    await v1.open()
    expect(await v1.schemaVersion()).toBe(1)
    await v1.createTenant({ id: 'acme', name: 'Acme' }, T0)
    await v1.createSite('acme', { id: 'hq', name: 'HQ' }, T0)
    const { token } = await v1.createEnrolmentToken('acme', 'hq', 'appliance', 60_000, T0)
    await v1.redeemEnrolmentToken(token, peerId(1), 'appliance', T0)
    await v1.close()
    const before = await withRaw(location, (db) => db.iterator().all())
    expect(JSON.parse(before.find(([key]) => key === SCHEMA_KEY)![1]).version).toBe(1)

    const v2 = createLevelStore({ location })
    await v2.open()
    expect(await v2.schemaVersion()).toBe(2)
    expect(await v2.findNode(peerId(1))).toMatchObject({ tenantId: 'acme', siteId: 'hq' })
    await v2.createSite('acme', { id: 'dr', name: 'DR' }, T0)
    const vm = {
      id: 'vm-1',
      name: 'Web',
      siteId: 'hq',
      volumes: [{ id: 'disk-0', size: 1 << 20, blockSize: 65_536 }],
    }
    await v2.createProtectedVm('acme', vm, T0)
    const result = await v2.enqueueJob(
      'acme',
      { id: 'j1', type: 'replication-cycle', vmId: 'vm-1', siteId: 'hq', role: 'appliance' },
      T0,
    )
    expect(result).toMatchObject({ enqueued: true, job: { volumeIds: ['disk-0'] } })
    await v2.close()
    // Every layout-1 record is byte for byte what it was; only the schema record changed.
    const after = new Map(await withRaw(location, (db) => db.iterator().all()))
    for (const [key, value] of before) if (key !== SCHEMA_KEY) expect(after.get(key)).toBe(value)
  })

  it('migration 2 refuses a schema-1 store holding keys layout 1 never writes, and leaves it at 1', async () => {
    const v1 = createLevelStore({ location, migrations: MIGRATIONS.slice(0, 1) })
    await v1.open()
    await v1.close()
    await withRaw(location, (db) => db.put('!job-queue!0000000000000001!acme!j1', '{}'))
    await expectCode(createLevelStore({ location }).open(), 'STORE_CORRUPT')
    const raw = await withRaw(location, (db) => db.get(SCHEMA_KEY))
    expect(JSON.parse(raw!)).toEqual({ format: 'lifeboat-coordinator-store', version: 1 })
  })

  it('refuses a LevelDB written by something else (keys, no schema record) and leaves it untouched', async () => {
    await withRaw(location, (db) => db.put('someone-else', 'data'))
    await expectCode(createLevelStore({ location }).open(), 'STORE_CORRUPT')
    expect(await withRaw(location, (db) => db.iterator().all())).toEqual([['someone-else', 'data']])
  })

  it('refuses a schema record of another format or shape (STORE_CORRUPT)', async () => {
    for (const raw of [
      '{"format":"other","version":1}',
      '{"format":"lifeboat-coordinator-store","version":0}',
      '[]',
      '',
    ]) {
      await withRaw(location, (db) => db.put(SCHEMA_KEY, raw))
      await expectCode(createLevelStore({ location }).open(), 'STORE_CORRUPT')
    }
  })

  it('applies later migrations in order on open, each with its version, keeping the records', async () => {
    const v2 = createLevelStore({ location })
    await v2.open()
    await v2.createTenant({ id: 'acme', name: 'Acme' }, T0)
    await v2.close()
    const v4 = createLevelStore({
      location,
      migrations: [...MIGRATIONS, addsMarker(3, '!meta!three'), addsMarker(4, '!meta!four')],
    })
    await v4.open()
    expect(await v4.schemaVersion()).toBe(4)
    expect(await v4.getTenant('acme')).toMatchObject({ name: 'Acme' })
    await v4.close()
    const keys = await withRaw(location, (db) => db.keys().all())
    expect(keys).toEqual(expect.arrayContaining(['!meta!three', '!meta!four']))
    // A build that knows only version 2 must now refuse the store.
    await expectCode(createLevelStore({ location }).open(), 'STORE_VERSION_TOO_NEW')
  })

  it('a failed migration leaves the store at the last whole version, and a fixed build carries on', async () => {
    const broken = createLevelStore({
      location,
      migrations: [...MIGRATIONS, addsMarker(3, '!meta!three'), fails(4)],
    })
    await expectCode(broken.open(), 'STORE_IO_FAILED')
    await expectCode(broken.listTenants(), 'STORE_NOT_OPEN')
    const raw = await withRaw(location, (db) => db.get(SCHEMA_KEY))
    expect(JSON.parse(raw!)).toEqual({ format: 'lifeboat-coordinator-store', version: 3 })
    const fixed = createLevelStore({
      location,
      migrations: [...MIGRATIONS, addsMarker(3, '!meta!three'), addsMarker(4, '!meta!four')],
    })
    await fixed.open()
    expect(await fixed.schemaVersion()).toBe(4)
    await fixed.close()
  })

  it('refuses a migration list with a gap (a bug in the build) without touching the store', async () => {
    const gap = createLevelStore({ location, migrations: [...MIGRATIONS, addsMarker(4, '!meta!four')] })
    await expect(gap.open()).rejects.toThrow(/expected 3/)
    expect(await withRaw(location, (db) => db.keys().all())).toEqual([])
  })
})

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
import { expectCode, T0 } from './conformance/fixture.js'

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
    expect(SCHEMA_VERSION).toBe(1)
  })

  it('a fresh directory gets migration 1 and its schema record, nothing else', async () => {
    const store = createLevelStore({ location })
    await store.open()
    expect(await store.schemaVersion()).toBe(1)
    await store.close()
    expect(await withRaw(location, (db) => db.iterator().all())).toEqual([
      [SCHEMA_KEY, '{"format":"lifeboat-coordinator-store","version":1}'],
    ])
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
    const v1 = createLevelStore({ location })
    await v1.open()
    await v1.createTenant({ id: 'acme', name: 'Acme' }, T0)
    await v1.close()
    const v3 = createLevelStore({
      location,
      migrations: [...MIGRATIONS, addsMarker(2, '!meta!two'), addsMarker(3, '!meta!three')],
    })
    await v3.open()
    expect(await v3.schemaVersion()).toBe(3)
    expect(await v3.getTenant('acme')).toMatchObject({ name: 'Acme' })
    await v3.close()
    const keys = await withRaw(location, (db) => db.keys().all())
    expect(keys).toEqual(expect.arrayContaining(['!meta!two', '!meta!three']))
    // A build that knows only version 1 must now refuse the store.
    await expectCode(createLevelStore({ location }).open(), 'STORE_VERSION_TOO_NEW')
  })

  it('a failed migration leaves the store at the last whole version, and a fixed build carries on', async () => {
    const broken = createLevelStore({
      location,
      migrations: [...MIGRATIONS, addsMarker(2, '!meta!two'), fails(3)],
    })
    await expectCode(broken.open(), 'STORE_IO_FAILED')
    await expectCode(broken.listTenants(), 'STORE_NOT_OPEN')
    const raw = await withRaw(location, (db) => db.get(SCHEMA_KEY))
    expect(JSON.parse(raw!)).toEqual({ format: 'lifeboat-coordinator-store', version: 2 })
    const fixed = createLevelStore({
      location,
      migrations: [...MIGRATIONS, addsMarker(2, '!meta!two'), addsMarker(3, '!meta!three')],
    })
    await fixed.open()
    expect(await fixed.schemaVersion()).toBe(3)
    await fixed.close()
  })

  it('refuses a migration list with a gap (a bug in the build) without touching the store', async () => {
    const gap = createLevelStore({ location, migrations: [...MIGRATIONS, addsMarker(3, '!meta!three')] })
    await expect(gap.open()).rejects.toThrow(/expected 2/)
    expect(await withRaw(location, (db) => db.keys().all())).toEqual([])
  })
})

// The classic-level store reports damaged records and dangling index entries as STORE_CORRUPT,
// and directory problems at open as STORE_IO_FAILED, without writing anything.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { hashEnrolmentSecret } from '../../coordinator/store/enrolment-secret.js'
import { LevelMetadataStore } from '../../coordinator/store/level-store.js'
import { expectCode, peerId, T0, tenantWithSite } from './conformance/fixture.js'

describe('classic-level store corruption', () => {
  let dir: string
  let location: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-corrupt-'))
    location = join(dir, 'store')
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  /** Builds a store with one enrolled node and one unused token, then applies `damage` to the raw db. */
  async function damaged(damage: (db: ClassicLevel<string, string>, unusedSecret: string) => Promise<void>) {
    const store = new LevelMetadataStore({ location })
    await store.open()
    await tenantWithSite(store, 'acme', 'hq')
    const used = await store.createEnrolmentToken('acme', 'hq', 'appliance', 60_000, T0)
    const unused = await store.createEnrolmentToken('acme', 'hq', 'appliance', 60_000, T0)
    await store.redeemEnrolmentToken(used.token, peerId(1), 'appliance', T0)
    await store.close()
    const db = new ClassicLevel<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    await db.open()
    await damage(db, unused.token)
    const before = await db.iterator().all()
    await db.close()
    const reopened = new LevelMetadataStore({ location })
    await reopened.open()
    return { store: reopened, unused, before }
  }

  async function unchanged(store: LevelMetadataStore, before: [string, string][]): Promise<void> {
    await store.close()
    const db = new ClassicLevel<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    await db.open()
    expect(await db.iterator().all()).toEqual(before)
    await db.close()
  }

  it('a node record that is not JSON, or not a node, is STORE_CORRUPT naming its key', async () => {
    for (const raw of ['{not json', '{"id":"x"}']) {
      const { store, before } = await damaged((db) => db.put(`!t!!acme!!node!${peerId(1)}`, raw))
      const error = await store.getNode('acme', peerId(1)).catch((e: unknown) => e)
      expect(error).toMatchObject({ code: 'STORE_CORRUPT' })
      expect((error as Error).message).toContain(`!t!!acme!!node!${peerId(1)}`)
      await expectCode(store.findNode(peerId(1)), 'STORE_CORRUPT')
      await expectCode(store.listNodes('acme'), 'STORE_CORRUPT')
      await expectCode(store.markNodeSeen(peerId(1), T0), 'STORE_CORRUPT')
      await unchanged(store, before)
      await rm(location, { recursive: true, force: true })
    }
  })

  it('a directory entry naming a tenant without the node is STORE_CORRUPT, also when redeeming', async () => {
    const { store, unused, before } = await damaged((db) =>
      db.put(`!nodes!${peerId(1)}`, '{"tenantId":"other"}'),
    )
    await expectCode(store.findNode(peerId(1)), 'STORE_CORRUPT')
    await expectCode(store.redeemEnrolmentToken(unused.token, peerId(1), 'appliance', T0), 'STORE_CORRUPT')
    await expectCode(store.setNodeStatus(peerId(1), 'online', T0), 'STORE_CORRUPT')
    await unchanged(store, before)
  })

  it('a token hash entry naming a missing token is STORE_CORRUPT and enrols nothing', async () => {
    const { store, unused, before } = await damaged(async (db, secret) => {
      const entry = JSON.parse((await db.get(`!token-hashes!${hashEnrolmentSecret(secret)}`))!)
      await db.del(`!t!!acme!!token!${entry.tokenId}`)
    })
    await expectCode(store.redeemEnrolmentToken(unused.token, peerId(2), 'appliance', T0), 'STORE_CORRUPT')
    expect(await store.findNode(peerId(2))).toBeUndefined()
    await unchanged(store, before)
  })

  it('a tenant record missing a field is STORE_CORRUPT for reads and lists', async () => {
    const { store, before } = await damaged((db) => db.put('!tenants!acme', '{"id":"acme","name":"Acme"}'))
    await expectCode(store.getTenant('acme'), 'STORE_CORRUPT')
    await expectCode(store.listTenants(), 'STORE_CORRUPT')
    await expectCode(store.createSite('acme', { id: 'dr', name: 'DR' }, T0), 'STORE_CORRUPT')
    await unchanged(store, before)
  })

  it('a location that cannot hold a database is STORE_IO_FAILED; an empty one is STORE_INVALID_ARGUMENT', async () => {
    const file = join(dir, 'a-file')
    await writeFile(file, 'not a directory')
    await expectCode(new LevelMetadataStore({ location: file }).open(), 'STORE_IO_FAILED')
    await expectCode(new LevelMetadataStore({ location: join(file, 'below') }).open(), 'STORE_IO_FAILED')
    expect(() => new LevelMetadataStore({ location: '' })).toThrow(
      expect.objectContaining({ code: 'STORE_INVALID_ARGUMENT' }),
    )
  })
})

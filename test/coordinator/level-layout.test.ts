// The classic-level store writes exactly the keys and values docs/STORE.md describes, and no secret.
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLevelStore } from '../../coordinator/store/level-store.js'
import { peerId, T0 } from './conformance/fixture.js'

async function dump(location: string): Promise<[string, string][]> {
  const db = new ClassicLevel<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  try {
    return await db.iterator().all()
  } finally {
    await db.close()
  }
}

describe('classic-level key layout, schema version 1 records', () => {
  let dir: string
  let location: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-layout-'))
    location = join(dir, 'store')
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('matches docs/STORE.md key by key and value by value', async () => {
    const store = createLevelStore({ location })
    await store.open()
    await store.createTenant({ id: 'acme', name: 'Acme' }, T0)
    await store.createSite('acme', { id: 'hq', name: 'Head office' }, T0 + 1)
    const { token, record } = await store.createEnrolmentToken('acme', 'hq', 'appliance', 60_000, T0 + 2)
    await store.redeemEnrolmentToken(token, peerId(1), 'appliance', T0 + 3)
    await store.markNodeSeen(peerId(1), T0 + 4, '0.1.0')
    await store.close()

    // The secret hash is recomputed here from its definition, not with the store's own function.
    const hash = createHash('sha256').update(Buffer.from(token, 'utf8')).digest('hex')
    const node = peerId(1)
    expect(await dump(location)).toEqual([
      ['!meta!schema', '{"format":"lifeboat-coordinator-store","version":2}'],
      [`!nodes!${node}`, '{"tenantId":"acme"}'],
      [
        `!t!!acme!!node!${node}`,
        `{"id":"${node}","tenantId":"acme","siteId":"hq","role":"appliance","enrolledAt":${T0 + 3},"status":"offline","statusChangedAt":${T0 + 3},"lastSeenAt":${T0 + 4},"softwareVersion":"0.1.0"}`,
      ],
      ['!t!!acme!!site!hq', `{"tenantId":"acme","id":"hq","name":"Head office","createdAt":${T0 + 1}}`],
      [
        `!t!!acme!!token!${record.id}`,
        `{"id":"${record.id}","tenantId":"acme","siteId":"hq","role":"appliance","createdAt":${T0 + 2},"expiresAt":${T0 + 2 + 60_000},"secretHash":"${hash}","usedAt":${T0 + 3},"usedByNode":"${node}"}`,
      ],
      ['!tenants!acme', `{"id":"acme","name":"Acme","createdAt":${T0}}`],
      [`!token-hashes!${hash}`, `{"tenantId":"acme","tokenId":"${record.id}"}`],
    ])
  })

  it('never stores a token secret, used or not', async () => {
    const store = createLevelStore({ location })
    await store.open()
    await store.createTenant({ id: 'acme', name: 'Acme' }, T0)
    await store.createSite('acme', { id: 'hq', name: 'HQ' }, T0)
    const used = await store.createEnrolmentToken('acme', 'hq', 'connector', 60_000, T0)
    const unused = await store.createEnrolmentToken('acme', 'hq', 'connector', 60_000, T0)
    await store.redeemEnrolmentToken(used.token, peerId(1), 'connector', T0)
    await store.close()
    const bytes = JSON.stringify(await dump(location))
    for (const { token } of [used, unused]) expect(bytes).not.toContain(token.slice('lbt_'.length))
  })

  it('tenant keys are the bytes abstract-level writes for the same sublevels', async () => {
    const db = new ClassicLevel<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    const tenant = db.sublevel(['t', 'acme'])
    expect(tenant.sublevel('site').prefix).toBe('!t!!acme!!site!')
    expect(tenant.sublevel('node').prefix).toBe('!t!!acme!!node!')
    expect(tenant.sublevel('token').prefix).toBe('!t!!acme!!token!')
    expect(db.sublevel('tenants').prefix).toBe('!tenants!')
    expect(db.sublevel('nodes').prefix).toBe('!nodes!')
    expect(db.sublevel('token-hashes').prefix).toBe('!token-hashes!')
    expect(db.sublevel('meta').prefix).toBe('!meta!')
    await db.close()
  })
})

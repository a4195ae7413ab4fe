// The classic-level store writes exactly the schema-2 keys docs/STORE.md describes: a job's record
// and index entries in each state, fencing counters, and the keys of VMs, plans, schedule states,
// recovery points, channels and job logs. And the index audit notices an entry no record explains.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLevelStore, type LevelMetadataStore } from '../../coordinator/store/level-store.js'
import { T0 } from './conformance/fixture.js'
import { cycle, makeWorld } from './conformance/world.js'
import { auditJobIndexes } from './level-job-audit.js'

async function dump(location: string): Promise<Map<string, string>> {
  const db = new ClassicLevel<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  try {
    return new Map(await db.iterator().all())
  } finally {
    await db.close()
  }
}

const t = (time: number) => String(time).padStart(16, '0')
const REF = '{"tenantId":"acme","jobId":"c1"}'
const isJobKey = (key: string) =>
  /^!(job-queue|job-offers|job-leases|node-jobs)!/.test(key) ||
  /^!t!!acme!!(job|job-state|job-vm|job-plan|job-queue|active-cycle|fence)!/.test(key)

describe('classic-level key layout, schema version 2', () => {
  let dir: string
  let location: string
  let store: LevelMetadataStore
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-layout2-'))
    location = join(dir, 'store')
    store = createLevelStore({ location })
    await store.open()
  })
  afterEach(async () => {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** The job keys and values after closing the store, then reopens it. */
  async function jobKeys(): Promise<Map<string, string>> {
    await store.close()
    const keys = new Map([...(await dump(location))].filter(([key]) => isJobKey(key)))
    await auditJobIndexes(location)
    await store.open()
    return keys
  }

  it('a job’s record and index entries in each state, and the fencing counters', async () => {
    const world = await makeWorld(store)
    const node = world.appliances[0]
    await store.enqueueJob('acme', cycle('c1'), T0)
    const queued = await jobKeys()
    expect([...queued.keys()]).toEqual([
      `!job-queue!${t(T0)}!acme!c1`,
      '!t!!acme!!active-cycle!vm-1',
      '!t!!acme!!job!c1',
      '!t!!acme!!job-plan!rpo!c1',
      `!t!!acme!!job-queue!hq!appliance!${t(T0)}!c1`,
      '!t!!acme!!job-state!queued!c1',
      '!t!!acme!!job-vm!vm-1!c1',
    ])
    expect(queued.get('!t!!acme!!job!c1')).toBe(
      `{"tenantId":"acme","id":"c1","type":"replication-cycle","planId":"rpo","vmId":"vm-1","volumeIds":["disk-0","disk-1"],"siteId":"hq","role":"appliance","state":"queued","attempt":0,"maxAttempts":5,"notBefore":${T0},"queuedAt":${T0},"fencingTokens":{},"excludedNodes":[],"payload":{},"createdAt":${T0},"updatedAt":${T0}}`,
    )
    for (const [key, value] of queued) if (key !== '!t!!acme!!job!c1') expect(value).toBe(REF)

    const offered = await store.offerJob('acme', 'c1', node, T0 + 1)
    expect([...(await jobKeys()).keys()]).toEqual([
      `!job-offers!${t(T0 + 1 + 60_000)}!acme!c1`,
      `!node-jobs!${node}!acme!c1`,
      '!t!!acme!!active-cycle!vm-1',
      '!t!!acme!!fence!disk-0',
      '!t!!acme!!fence!disk-1',
      '!t!!acme!!job!c1',
      '!t!!acme!!job-plan!rpo!c1',
      '!t!!acme!!job-state!offered!c1',
      '!t!!acme!!job-vm!vm-1!c1',
    ])
    await store.close()
    expect((await dump(location)).get('!t!!acme!!fence!disk-0')).toBe('{"token":1}')
    await store.open()

    await store.acknowledgeJob('acme', 'c1', node, offered.lease!.id, T0 + 2)
    const running = [...(await jobKeys()).keys()]
    expect(running).toContain(`!job-leases!${t(T0 + 2 + 60_000)}!acme!c1`)
    expect(running).toContain('!t!!acme!!job-state!running!c1')
    expect(running).toContain(`!node-jobs!${node}!acme!c1`)
    expect(running.filter((key) => key.startsWith('!job-offers!'))).toEqual([])

    await store.renewLease('acme', 'c1', offered.lease!.id, T0 + 3)
    expect([...(await jobKeys()).keys()]).toContain(`!job-leases!${t(T0 + 3 + 60_000)}!acme!c1`)

    await store.completeJob('acme', 'c1', offered.lease!.id, T0 + 4)
    expect([...(await jobKeys()).keys()]).toEqual([
      '!t!!acme!!fence!disk-0',
      '!t!!acme!!fence!disk-1',
      '!t!!acme!!job!c1',
      '!t!!acme!!job-plan!rpo!c1',
      '!t!!acme!!job-state!succeeded!c1',
      '!t!!acme!!job-vm!vm-1!c1',
    ])
  })

  it('VMs, volumes, plans, schedule states, recovery points, channels and job logs', async () => {
    const world = await makeWorld(store)
    await store.flagPlanRpoAtRisk('acme', 'rpo', { blockedDueAt: T0, lagMs: 3 }, T0)
    await store.addRecoveryPoint('acme', {
      id: 'rp-1',
      vmId: 'vm-1',
      volumeId: 'disk-0',
      createdAt: T0 + 7,
      blockMapDigest: 'ab'.repeat(32),
      size: 1,
    })
    await store.createNotificationChannel(
      'acme',
      { id: 'mail', kind: 'email', target: 'a@example.com', events: [], enabled: true },
      T0,
    )
    await store.enqueueJob('acme', cycle('c1'), T0)
    await store.appendJobLog('acme', 'c1', {
      at: T0,
      level: 'info',
      step: 'scan',
      message: 'ok',
      nodeId: world.appliances[0],
      nodeSeq: 9,
    })
    await store.close()
    const all = await dump(location)
    await store.open()
    const keys = [...all.keys()].filter((key) => !isJobKey(key))
    expect(keys).toEqual(
      expect.arrayContaining([
        '!enabled-plans!acme!rpo',
        '!t!!acme!!vm!vm-1',
        '!t!!acme!!vm!vm-2',
        '!t!!acme!!volume!disk-0',
        '!t!!acme!!volume!disk-1',
        '!t!!acme!!volume!disk-2',
        '!t!!acme!!plan!rpo',
        '!t!!acme!!plan-state!rpo',
        '!t!!acme!!rp!rp-1',
        `!t!!acme!!rp-vm!vm-1!disk-0!${t(T0 + 7)}!rp-1`,
        '!t!!acme!!channel!mail',
        `!t!!acme!!job-log!c1!${t(1)}`,
        `!t!!acme!!job-log-seen!c1!${world.appliances[0]}!${t(9)}`,
      ]),
    )
    expect(all.get('!t!!acme!!volume!disk-1')).toBe('{"vmId":"vm-1"}')
    expect(all.get('!enabled-plans!acme!rpo')).toBe('{"tenantId":"acme","planId":"rpo"}')
    expect(all.get(`!t!!acme!!rp-vm!vm-1!disk-0!${t(T0 + 7)}!rp-1`)).toBe('{"pointId":"rp-1"}')
    expect(all.get(`!t!!acme!!job-log-seen!c1!${world.appliances[0]}!${t(9)}`)).toBe(`{"at":${T0},"seq":1}`)
    expect(JSON.parse(all.get('!t!!acme!!plan-state!rpo')!)).toMatchObject({ rpoAtRisk: true, lagMs: 3 })
  })

  it('the audit notices an index entry that no record explains, and a counter that is not the highest token', async () => {
    const world = await makeWorld(store)
    await store.enqueueJob('acme', cycle('c1'), T0)
    await store.offerJob('acme', 'c1', world.appliances[0], T0)
    await store.close()
    await auditJobIndexes(location)
    const db = new ClassicLevel<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    await db.open()
    await db.put(`!job-queue!${t(T0)}!acme!c1`, REF)
    await db.close()
    await expect(auditJobIndexes(location)).rejects.toThrow()
    const fixed = new ClassicLevel<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    await fixed.open()
    await fixed.del(`!job-queue!${t(T0)}!acme!c1`)
    await fixed.close()
    await auditJobIndexes(location)
    const skewed = new ClassicLevel<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    await skewed.open()
    await skewed.put('!t!!acme!!fence!disk-0', '{"token":5}')
    await skewed.close()
    await expect(auditJobIndexes(location)).rejects.toThrow()
    await store.open()
  })
})

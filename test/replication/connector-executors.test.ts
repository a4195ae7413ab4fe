// The connector's executors (agent/replication/connector-executors.ts) over a real file chunk store
// in a temp dir, with a recording job context:
// - consistency-check: a sound point passes with counts; a flipped byte fails the job with
//   AGENT_REPLICATION_CHECK_FAILED naming the volume and the block, each bad block logged once with
//   the store's code; past MAX_LOGGED_PROBLEMS the rest are counted in one line; an unknown point
//   is the store's BLOCKIO_POINT_NOT_FOUND;
// - maintenance `prune`: deletes the named points (a gone one is no error, so a retry finishes),
//   collects the chunks nothing names any more and reports both; refuses other tasks
//   (AGENT_JOB_TYPE_UNSUPPORTED) and a payload without a tenant, touching nothing.
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { JobContext } from '../../agent/jobs/job-runner.js'
import {
  createCheckExecutor,
  createPruneExecutor,
  MAX_LOGGED_PROBLEMS,
} from '../../agent/replication/connector-executors.js'
import { type ChunkStore, openChunkStore } from '../../blockio/chunk-store/index.js'
import { ENTRY_HEADER_LENGTH, PACK_HEADER_LENGTH } from '../../blockio/chunk-store/pack-format.js'
import type { JobOffer } from '../../protocol/index.js'
import { BLOCK, blockMapOf, blockOf, lz4Chunk, newPoint, storeDir } from '../blockio/chunk-store/helpers.js'

const TENANT = 't1'
let store: ChunkStore
let root: string
let remove: () => Promise<void>

beforeEach(async () => {
  const dir = await storeDir()
  root = dir.root
  remove = dir.remove
  store = await openChunkStore({ root, masterKey: dir.masterKey })
})
afterEach(async () => {
  await store.close()
  await remove()
})

interface Logged {
  level: string
  step: string
  message: string
  error?: { code?: string }
}

function context(signal = new AbortController().signal): JobContext & { logged: Logged[] } {
  const logged: Logged[] = []
  return {
    signal,
    logged,
    progress: () => undefined,
    log: (level, step, message, extra) =>
      logged.push({ level, step, message, error: extra?.error as Logged['error'] }),
  }
}

function offer(jobType: 'consistency-check' | 'maintenance', payload: unknown): JobOffer {
  return {
    t: 0,
    rid: 1,
    jobId: 'job-1',
    jobType,
    leaseId: 'lease-1',
    fencingToken: 1,
    ackDeadlineMs: 60_000,
    leaseTtlMs: 60_000,
    attempt: 1,
    payload,
  } as unknown as JobOffer
}

/** Stores chunks of blocks `seeds` (lz4) and commits a point naming them (undefined: a zero block). */
async function pointOf(
  pointId: string,
  seeds: Array<number | undefined>,
  volumeId = 'vol1',
): Promise<Buffer[]> {
  const blocks = seeds.map((seed) => (seed === undefined ? undefined : blockOf(seed)))
  const chunks = blocks.filter((b): b is Buffer => b !== undefined).map(lz4Chunk)
  await store.putChunks(TENANT, chunks)
  const digests = blocks.map((b) => (b === undefined ? undefined : lz4Chunk(b).digest))
  await store.commitPoint(TENANT, newPoint(pointId, blockMapOf(digests), { volumeId }))
  return chunks.map((c) => Buffer.from(c.digest))
}

/** Flips a byte inside the ciphertext of the first chunk entry of pack 1. */
async function flipFirstChunk(): Promise<void> {
  const handle = await open(join(root, 'tenants', TENANT, 'packs', '00000001.pack'), 'r+')
  try {
    const at = PACK_HEADER_LENGTH + ENTRY_HEADER_LENGTH + 5
    const byte = Buffer.alloc(1)
    await handle.read(byte, 0, 1, at)
    byte[0] = byte[0]! ^ 1
    await handle.write(byte, 0, 1, at)
  } finally {
    await handle.close()
  }
}

describe('consistency-check executor', () => {
  it('passes a sound point with counts per volume', async () => {
    await pointOf('p1', [1, undefined, 2, 3])
    const ctx = context()
    const summary = await createCheckExecutor({ store })(
      offer('consistency-check', {
        tenant: TENANT,
        vmId: 'vm1',
        volumes: [{ volumeId: 'vol1', recoveryPointId: 'p1' }],
      }),
      ctx,
    )
    expect(summary).toEqual({ blocksChecked: 4, bytesChecked: 3 * BLOCK, problems: 0, 'problems.vol1': 0 })
    expect(ctx.logged.map((l) => [l.level, l.step])).toEqual([['info', 'check vol1 point p1']])
  })

  it('a flipped byte fails the job, names the volume and the block, logs it once with the store code', async () => {
    await pointOf('p1', [1, 2, 3])
    await pointOf('p2', [4, 5], 'vol2')
    await flipFirstChunk()
    const ctx = context()
    const run = createCheckExecutor({ store })(
      offer('consistency-check', {
        tenant: TENANT,
        vmId: 'vm1',
        volumes: [
          { volumeId: 'vol1', recoveryPointId: 'p1' },
          { volumeId: 'vol2', recoveryPointId: 'p2' },
        ],
      }),
      ctx,
    )
    await expect(run).rejects.toMatchObject({
      code: 'AGENT_REPLICATION_CHECK_FAILED',
      retryable: false,
      message: 'recovery points do not match their block maps: vol1: 1 (first: block 0)',
    })
    const errors = ctx.logged.filter((l) => l.level === 'error')
    expect(errors).toHaveLength(1)
    expect(errors[0]!.step).toBe('check vol1 point p1')
    expect(errors[0]!.message).toMatch(/^block 0: /)
    expect(errors[0]!.message).not.toMatch(/^block 0: block 0/)
    expect(errors[0]!.error?.code).toBe('BLOCKIO_CHUNK_CORRUPT')
    // The sound volume is reported as such.
    expect(ctx.logged.filter((l) => l.level === 'info').map((l) => l.step)).toEqual(['check vol2 point p2'])
  })

  it(`logs the first ${MAX_LOGGED_PROBLEMS} bad blocks one by one and counts the rest`, async () => {
    // 105 blocks naming the one chunk that will be damaged.
    await pointOf('p1', new Array(105).fill(1))
    await flipFirstChunk()
    const ctx = context()
    await expect(
      createCheckExecutor({ store })(
        offer('consistency-check', {
          tenant: TENANT,
          vmId: 'vm1',
          volumes: [{ volumeId: 'vol1', recoveryPointId: 'p1' }],
        }),
        ctx,
      ),
    ).rejects.toMatchObject({
      code: 'AGENT_REPLICATION_CHECK_FAILED',
      message: expect.stringContaining('vol1: 105'),
    })
    const errors = ctx.logged.filter((l) => l.level === 'error')
    expect(errors).toHaveLength(MAX_LOGGED_PROBLEMS + 1)
    expect(errors[99]!.message).toMatch(/^block 99: /)
    expect(errors[100]!.message).toBe('5 more mismatching blocks not listed')
  })

  it('an unknown point is the store’s BLOCKIO_POINT_NOT_FOUND', async () => {
    await expect(
      createCheckExecutor({ store })(
        offer('consistency-check', {
          tenant: TENANT,
          vmId: 'vm1',
          volumes: [{ volumeId: 'vol1', recoveryPointId: 'nope' }],
        }),
        context(),
      ),
    ).rejects.toMatchObject({ code: 'BLOCKIO_POINT_NOT_FOUND' })
  })
})

describe('prune executor', () => {
  it('deletes the named points and collects the chunks only they named; a retry finishes quietly', async () => {
    const [unique, shared] = await pointOf('p1', [1, 2])
    await pointOf('p2', [2, 3])
    const ctx = context()
    const prune = createPruneExecutor({ store })
    const summary = await prune(
      offer('maintenance', { task: 'prune', tenant: TENANT, points: ['p1', 'gone'] }),
      ctx,
    )
    expect(summary).toMatchObject({ pointsDeleted: 1, pointsNamed: 2, chunksRemoved: 1 })
    expect(Number(summary!.bytesReclaimed)).toBeGreaterThan(0)
    expect((await store.listPoints(TENANT)).map((p) => p.pointId)).toEqual(['p2'])
    expect(store.hasChunk(TENANT, unique!)).toBe(false)
    expect(store.hasChunk(TENANT, shared!)).toBe(true)
    expect(ctx.logged.map((l) => [l.step, l.message.split(',')[0]])).toEqual([
      ['delete expired points', '1 of 2 expired points deleted'],
      ['collect garbage', '1 chunks removed'],
    ])
    expect((await store.checkPoint(TENANT, 'p2')).problems).toEqual([])

    const again = await prune(
      offer('maintenance', { task: 'prune', tenant: TENANT, points: ['p1'] }),
      context(),
    )
    expect(again).toMatchObject({ pointsDeleted: 0, pointsNamed: 1, chunksRemoved: 0 })
  })

  it('refuses other maintenance tasks and a prune without a tenant, touching nothing', async () => {
    await pointOf('p1', [1])
    const prune = createPruneExecutor({ store })
    await expect(
      prune(offer('maintenance', { task: 'upgrade', tenant: TENANT }), context()),
    ).rejects.toMatchObject({
      code: 'AGENT_JOB_TYPE_UNSUPPORTED',
    })
    await expect(
      prune(offer('maintenance', { task: 'prune', points: ['p1'] }), context()),
    ).rejects.toMatchObject({
      code: 'AGENT_REPLICATION_NOT_CONFIGURED',
    })
    const aborted = new AbortController()
    aborted.abort(new Error('lease lost'))
    await expect(
      prune(offer('maintenance', { task: 'prune', tenant: TENANT, points: ['p1'] }), context(aborted.signal)),
    ).rejects.toThrow('lease lost')
    expect((await store.listPoints(TENANT)).map((p) => p.pointId)).toEqual(['p1'])
  })
})

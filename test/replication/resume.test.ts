// Issue "Replication end to end" §3 and §9 "resume after a kill", with real processes: the lab's
// in-process appliance or connector is stopped before any job and replaced by a `lifeboat agent`
// process of the built CLI (dist/) on the same data dir (same identity and enrolment), which is
// SIGKILLed while a cycle's blocks stream (the connector has stored part of them: its pack files
// index files named some of them). A new process on the same data dir takes over; the cycle is retried (lease expiry or a
// failed attempt, then backoff) and must not send again what the connector stored, must commit the
// map digest the image's bytes give (what an uninterrupted run commits), and restore byte-identical.
// The killed attempt never shows as a recovery point, and earlier points stay intact.
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LAB_TENANT, type ReplicationLab } from '../../demo/replication-lab.js'
import { Cleanup } from '../control/helpers.js'
import {
  BLOCK,
  CLI,
  CliAgent,
  expectedMapDigest,
  imagePath,
  indexedChunks,
  pointOf,
  randomImage,
  restored,
  startLab,
  waitFor,
} from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx tsc -p .\` before this test`)
})

/** 64 MiB of incompressible blocks: long enough a stream to kill it in the middle. */
const BLOCKS = 1_024
/** Kill once the connector indexed this many chunks of the cycle: some stored durably, most not. */
const KILL_AFTER_CHUNKS = 64
/** Short job timers: a killed appliance's lease lapses in 2 s, the retry follows the 5 s backoff. */
const JOBS = { leaseTtlMs: 2_000, ackDeadlineMs: 2_000, exclusionGraceMs: 0 }

function cliArgs(lab: ReplicationLab, role: 'appliance' | 'connector'): string[] {
  const dataDir = join(lab.dir, role)
  return [
    '--data-dir',
    dataDir,
    '--coordinator',
    lab.coordinator.server.addresses()[0]!,
    '--role',
    role,
    '--heartbeat-interval',
    '1s',
    ...(role === 'appliance'
      ? ['--volume-map', join(dataDir, 'volumes.json')]
      : ['--block-listen', '/ip4/127.0.0.1/tcp/0']),
  ]
}

/** Starts a CLI node on the role's data dir and waits until the coordinator sees its new session. */
async function cliNode(lab: ReplicationLab, role: 'appliance' | 'connector'): Promise<CliAgent> {
  const nodeId = (role === 'appliance' ? lab.appliance : lab.connector).node.peerId.toString()
  const before = lab.coordinator.server.blockAddressesOf(nodeId)?.join(',')
  const agent = new CliAgent(cleanup, cliArgs(lab, role))
  await waitFor(() => {
    if (!agent.running) throw new Error(`the ${role} process exited: ${agent.output}`)
    if (role === 'appliance') return lab.coordinator.server.loadOf(nodeId) !== undefined
    const now = lab.coordinator.server.blockAddressesOf(nodeId)?.join(',')
    return now !== undefined && now !== before
  }, `the ${role} process to connect`)
  return agent
}

describe('a cycle killed mid-stream resumes without re-sending what was stored', () => {
  it('appliance SIGKILLed: a new appliance process on the same data dir finishes it after the lease lapses', async () => {
    const image = randomImage(BLOCKS, 7)
    const lab = await startLab(cleanup, [{ vmId: 'vm1', volumeId: 'disk0', data: image }], { jobs: JOBS })
    const applianceId = lab.appliance.node.peerId.toString()
    await lab.appliance.stop()
    await waitFor(() => lab.coordinator.server.loadOf(applianceId) === undefined, 'the lab appliance gone')
    const first = await cliNode(lab, 'appliance')

    const cycle = lab.replicate('vm1')
    cycle.catch(() => undefined)
    await waitFor(async () => (await indexedChunks(lab)) >= KILL_AFTER_CHUNKS, 'part of the seed stored')
    await first.kill()
    const storedAtKill = await indexedChunks(lab)
    expect(storedAtKill).toBeLessThan(BLOCKS)

    await cliNode(lab, 'appliance')
    const job = await cycle
    expect(job.attempt).toBeGreaterThanOrEqual(2)
    // The retry sent only what the killed attempt had not stored: the stored chunks went as HELD.
    const payload = Number(job.result!.payloadBytes)
    const held = Number(job.result!.heldRecords)
    expect(held).toBeGreaterThanOrEqual(storedAtKill)
    expect(payload).toBeLessThanOrEqual((BLOCKS - storedAtKill) * (BLOCK + 64))
    expect(payload).toBeLessThan(BLOCKS * BLOCK)

    // Same point as an uninterrupted run: the map digest the image's bytes give, one point only.
    const point = pointOf(job)
    expect(point.mapDigest).toBe(expectedMapDigest(image))
    expect((await lab.points('vm1')).map((p) => p.id)).toEqual([point.pointId])
    const reader = await lab.openStoreReader()
    try {
      expect((await reader.listPoints(LAB_TENANT)).map((p) => p.pointId)).toEqual([point.pointId])
    } finally {
      await reader.close()
    }
    expect((await restored(lab, point.pointId)).equals(image)).toBe(true)
    expect((await lab.check('vm1')).state).toBe('succeeded')
  }, 60_000)

  it('connector SIGKILLed: a new connector process on the same data dir takes the retry; earlier points intact', async () => {
    const seedImage = randomImage(BLOCKS, 11)
    const lab = await startLab(cleanup, [{ vmId: 'vm1', volumeId: 'disk0', data: seedImage }], {
      jobs: JOBS,
    })
    await lab.connector.stop()
    let connector = await cliNode(lab, 'connector')
    const seed = pointOf(await lab.replicate('vm1'))

    // Rewrite every block: the next cycle streams 64 MiB again, and the connector dies in the middle.
    const image = randomImage(BLOCKS, 13)
    await writeFile(imagePath(lab.dir, 'disk0'), image)
    const before = await indexedChunks(lab)
    const cycle = lab.replicate('vm1')
    cycle.catch(() => undefined)
    await waitFor(
      async () => (await indexedChunks(lab)) - before >= KILL_AFTER_CHUNKS,
      'part of the cycle stored',
    )
    await connector.kill()
    const storedAtKill = (await indexedChunks(lab)) - before
    expect(storedAtKill).toBeLessThan(BLOCKS)

    // With the connector down, its store shows the seed only: the killed cycle made no point.
    const reader = await lab.openStoreReader()
    try {
      expect((await reader.listPoints(LAB_TENANT)).map((p) => p.pointId)).toEqual([seed.pointId])
    } finally {
      await reader.close()
    }
    connector = await cliNode(lab, 'connector')
    const job = await cycle
    expect(job.attempt).toBeGreaterThanOrEqual(2)
    const held = Number(job.result!.heldRecords)
    expect(held).toBeGreaterThanOrEqual(storedAtKill)
    expect(Number(job.result!.payloadBytes)).toBeLessThanOrEqual((BLOCKS - storedAtKill) * (BLOCK + 64))

    const point = pointOf(job)
    expect(point.mapDigest).toBe(expectedMapDigest(image))
    expect((await lab.points('vm1')).map((p) => p.id)).toEqual([seed.pointId, point.pointId])
    expect((await restored(lab, seed.pointId)).equals(seedImage)).toBe(true)
    expect((await restored(lab, point.pointId)).equals(image)).toBe(true)
    expect((await lab.check('vm1')).state).toBe('succeeded')
    expect(connector.running).toBe(true)
  }, 60_000)
})

// The block link into the real chunk store (blockio/chunk-store/, files in a fresh temp folder):
// a full volume, an incremental one on it, a refused wrong-hash batch, and the store's own check
// of every committed point.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { blake3 } from '@noble/hashes/blake3.js'
import { afterEach, describe, expect, it } from 'vitest'
import { type BlockListener, openBlockStream, sendVolume } from '../../agent/blocks/index.js'
import { type ChunkStore, openChunkStore } from '../../blockio/chunk-store/index.js'
import { DIGEST_LENGTH, MessageType, RecordFlag } from '../../protocol/index.js'
import { NodeSet, withLimit } from '../transport/helpers.js'
import {
  BLOCK_SIZE,
  changedRecords,
  type Link,
  makeVolume,
  next,
  openFor,
  rawVolumeChannel,
  scanOf,
  startLink,
  type TestVolume,
} from './volume-helpers.js'

const nodes = new NodeSet()
const listeners: BlockListener[] = []
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.stop()))
  await nodes.stopAll()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function fileStore(): Promise<ChunkStore> {
  const root = await mkdtemp(join(tmpdir(), 'lifeboat-blocks-store-'))
  const store = await openChunkStore({ root, masterKey: randomBytes(32) })
  cleanups.push(() => rm(root, { recursive: true, force: true }))
  cleanups.push(() => store.close())
  return store
}

async function send(link: Link, volume: TestVolume, open = openFor(volume), records = volume.records) {
  const blocks = await withLimit(
    openBlockStream(link.appliance, link.addr, { software: 'lifeboat/test' }),
    'open',
  )
  return withLimit(
    sendVolume(blocks, { open, records, blockMap: volume.blockMap, maxBatchRecords: 8 }),
    'send',
  )
}

async function expectStored(store: ChunkStore, pointId: string, volume: TestVolume): Promise<void> {
  const map = await store.readBlockMap('acme', pointId)
  expect(Buffer.from(map.digests).equals(Buffer.from(volume.blockMap))).toBe(true)
  expect(map.info.mapDigest).toBe(Buffer.from(blake3(volume.blockMap)).toString('hex'))
  for (let i = 0; i < volume.blockCount; i++) {
    const digest = map.digests.subarray(i * DIGEST_LENGTH, (i + 1) * DIGEST_LENGTH)
    if (digest.every((b) => b === 0)) continue
    const block = volume.bytes.subarray(i * BLOCK_SIZE, Math.min(volume.size, (i + 1) * BLOCK_SIZE))
    expect(Buffer.from(await store.readChunk('acme', digest)).equals(Buffer.from(block))).toBe(true)
  }
  const report = await store.checkPoint('acme', pointId)
  expect(report).toMatchObject({ blocksChecked: volume.blockCount, problems: [], moreProblems: 0 })
}

const kinds = (i: number) => (i % 4 === 0 ? 'zero' : i % 4 === 1 ? 'random' : i % 4 === 2 ? 'text' : 9)

describe('the block link into the file chunk store', () => {
  it('round-trips a volume, then an incremental cycle on it that sends only the changes', async () => {
    const store = await fileStore()
    const link = await startLink(nodes, listeners, store)
    const first = makeVolume(33 * BLOCK_SIZE + 300, kinds)
    const base = await send(link, first)
    expect(base.recoveryPointId).toBe('job-1.disk-0')
    await expectStored(store, base.recoveryPointId, first)

    const bytes = Uint8Array.from(first.bytes)
    crypto.getRandomValues(bytes.subarray(5 * BLOCK_SIZE, 6 * BLOCK_SIZE))
    const second = scanOf(bytes)
    const changed = changedRecords(first, second)
    expect(changed.map((r) => r.index)).toEqual([5])
    const incremental = await send(
      link,
      second,
      openFor(second, { jobId: 'job-2', fencingToken: 6, baseRecoveryPointId: base.recoveryPointId }),
      changed,
    )
    expect(incremental).toMatchObject({ recordsSent: 1, dataRecords: 1, recoveryPointId: 'job-2.disk-0' })
    await expectStored(store, incremental.recoveryPointId, second)

    // The same content for another volume of the tenant: nothing but HELD records.
    const again = await send(link, second, openFor(second, { volumeId: 'disk-1', jobId: 'job-3' }))
    expect(again).toMatchObject({ payloadBytes: 0, dataRecords: 0 })
    await expectStored(store, again.recoveryPointId, second)
  })

  it('refuses a chunk that does not match its digest and stores nothing of its batch', async () => {
    const store = await fileStore()
    const link = await startLink(nodes, listeners, store)
    const volume = makeVolume(4 * BLOCK_SIZE, () => 'random')
    const channel = await rawVolumeChannel(link, openFor(volume))
    const records = volume.records.map((r) => ({
      index: r.index,
      digest: r.digest,
      flags: RecordFlag.RAW,
      payload: r.payload!,
    }))
    records[3] = { ...records[3]!, digest: records[0]!.digest }
    await channel.send({ t: MessageType.BLOCK_BATCH, seq: 1, records })
    const error = await next(channel)
    expect(error).toMatchObject({ t: MessageType.ERROR, reType: MessageType.BLOCK_BATCH, reId: 1 })
    expect((error as { code: string }).code).toMatch(/^BLOCKIO_CHUNK_/)
    for (const record of volume.records) expect(store.hasChunk('acme', record.digest)).toBe(false)
    expect(await store.listPoints('acme')).toEqual([])
  })
})

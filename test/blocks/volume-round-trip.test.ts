// Volumes sent from an appliance to a connector with a chunk store over real libp2p nodes on
// loopback: the full first cycle, dedup of a second volume, an incremental cycle on a base point,
// and a resize between cycles; the map and every chunk are read back from the store.
import { blake3 } from '@noble/hashes/blake3.js'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type BlockListener,
  openBlockStream,
  recoveryPointIdFor,
  type SendVolumeOptions,
  sendVolume,
} from '../../agent/blocks/index.js'
import type { ChunkStore } from '../../blockio/chunk-store/chunk-store.js'
import { DIGEST_LENGTH, MAX_UNACKED_BATCHES, MessageType } from '../../protocol/index.js'
import { NodeSet, withLimit } from '../transport/helpers.js'
import { MemoryChunkStore } from './memory-chunk-store.js'
import {
  BLOCK_SIZE,
  changedRecords,
  eventually,
  type Link,
  makeVolume,
  openFor,
  RecordingLogger,
  scanOf,
  startLink,
  type TestVolume,
} from './volume-helpers.js'

const nodes = new NodeSet()
const listeners: BlockListener[] = []

afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.stop()))
  await nodes.stopAll()
})

async function send(link: Link, options: SendVolumeOptions) {
  const blocks = await withLimit(
    openBlockStream(link.appliance, link.addr, { software: 'lifeboat/test' }),
    'open',
  )
  return withLimit(sendVolume(blocks, options), 'send volume')
}

/** Every block of the point reads back from the store as the volume's bytes. */
async function expectStored(store: ChunkStore, pointId: string, volume: TestVolume): Promise<void> {
  const map = await store.readBlockMap('acme', pointId)
  expect(Buffer.from(map.digests).equals(Buffer.from(volume.blockMap))).toBe(true)
  expect(map.info).toMatchObject({
    blockCount: volume.blockCount,
    volumeSize: volume.size,
    blockSize: BLOCK_SIZE,
  })
  expect(map.info.mapDigest).toBe(Buffer.from(blake3(volume.blockMap)).toString('hex'))
  for (let i = 0; i < volume.blockCount; i++) {
    const digest = map.digests.subarray(i * DIGEST_LENGTH, (i + 1) * DIGEST_LENGTH)
    const block = volume.bytes.subarray(i * BLOCK_SIZE, Math.min(volume.size, (i + 1) * BLOCK_SIZE))
    if (digest.every((b) => b === 0)) {
      expect(block.every((b) => b === 0)).toBe(true)
      continue
    }
    expect(Buffer.from(await store.readChunk('acme', digest)).equals(Buffer.from(block))).toBe(true)
  }
}

// 40 blocks and a short last one: random (RAW), text (LZ4), zero, and repeats of the same bytes.
const kinds = (i: number) => (i % 5 === 0 ? 'zero' : i % 5 === 1 ? 'random' : i % 5 === 2 ? 'text' : i % 3)

describe('sending a volume', () => {
  it('stores every block and commits the map under the job and volume id', async () => {
    const store = new MemoryChunkStore()
    const logger = new RecordingLogger()
    const link = await startLink(nodes, listeners, store, logger)
    const volume = makeVolume(40 * BLOCK_SIZE + 1000, kinds)
    const progress: number[] = []
    const sent = await send(link, {
      open: openFor(volume),
      records: volume.records,
      blockMap: volume.blockMap,
      maxBatchRecords: 6,
      onProgress: (p) => progress.push(p.batchesAcked),
    })
    const zeroBlocks = volume.records.filter((r) => r.flags & 0x01).length
    expect(sent).toMatchObject({
      recoveryPointId: 'job-1.disk-0',
      zeroRecords: 0,
      zeroBlocksSkipped: zeroBlocks,
      recordsSent: volume.blockCount - zeroBlocks,
    })
    // Blocks repeating one from an earlier batch go HELD; within one batch both carry data.
    const unique = new Set(
      volume.records.filter((r) => !(r.flags & 0x01)).map((r) => Buffer.from(r.digest).toString('hex')),
    )
    expect(store.chunks.get('acme')?.size).toBe(unique.size)
    expect(sent.dataRecords).toBeGreaterThanOrEqual(unique.size)
    expect(sent.heldRecords).toBeGreaterThan(0)
    expect(sent.heldRecords + sent.dataRecords).toBe(sent.recordsSent)
    expect(sent.batches).toBe(Math.ceil(sent.recordsSent / 6))
    expect(progress).toEqual(Array.from({ length: sent.batches }, (_, i) => i + 1))
    expect(sent.payloadBytes).toBeLessThan(
      volume.records.reduce((sum, r) => sum + (r.flags & 0x01 ? 0 : r.payload!.length), 0),
    )
    expect(recoveryPointIdFor('job-1', 'disk-0')).toBe(sent.recoveryPointId)
    const [info] = await store.listPoints('acme', 'disk-0')
    expect(info).toMatchObject({
      pointId: 'job-1.disk-0',
      jobId: 'job-1',
      vmId: 'vm-1',
      fencingToken: 5,
      createdAt: 1_700_000_000_000,
      dataBlocks: volume.blockCount - zeroBlocks,
    })
    await expectStored(store, sent.recoveryPointId, volume)
    // The session's pin is gone once the point holds the chunks.
    await eventually(() => store.pins.size === 0, 'pin released')
    expect(logger.events()).toEqual(expect.arrayContaining(['volume-opened', 'volume-committed']))
  })

  it('sends no chunk data for a second volume with the same content: every block is HELD', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const volume = makeVolume(24 * BLOCK_SIZE, kinds)
    await send(link, { open: openFor(volume), records: volume.records, blockMap: volume.blockMap })
    const puts = store.putCalls.length
    const sent = await send(link, {
      open: openFor(volume, { volumeId: 'disk-1', vmId: 'vm-2', jobId: 'job-2' }),
      records: volume.records,
      blockMap: volume.blockMap,
    })
    expect(sent).toMatchObject({ payloadBytes: 0, dataRecords: 0, recoveryPointId: 'job-2.disk-1' })
    expect(sent.heldRecords).toBe(sent.recordsSent)
    expect(store.putCalls.length).toBe(puts)
    await expectStored(store, 'job-2.disk-1', volume)
  })

  it('sends only the changed blocks on a base point; the map inherits the rest', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const first = makeVolume(30 * BLOCK_SIZE + 512, kinds)
    const base = await send(link, { open: openFor(first), records: first.records, blockMap: first.blockMap })
    const bytes = Uint8Array.from(first.bytes)
    crypto.getRandomValues(bytes.subarray(3 * BLOCK_SIZE, 5 * BLOCK_SIZE)) // blocks 3 and 4 rewritten
    bytes.fill(0, 11 * BLOCK_SIZE, 12 * BLOCK_SIZE) // block 11 zeroed
    const rescanned = scanOf(bytes)
    const changed = changedRecords(first, rescanned)
    expect(changed.map((r) => r.index)).toEqual([3, 4, 11])
    const sent = await send(link, {
      open: openFor(rescanned, {
        jobId: 'job-2',
        fencingToken: 6,
        baseRecoveryPointId: base.recoveryPointId,
      }),
      records: changed,
      blockMap: rescanned.blockMap,
    })
    expect(sent).toMatchObject({ recordsSent: 3, zeroRecords: 1, dataRecords: 2, heldRecords: 0 })
    await expectStored(store, sent.recoveryPointId, rescanned)
    // The base is untouched.
    await expectStored(store, base.recoveryPointId, first)
  })

  it('follows a resize between cycles, bigger then smaller', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const first = makeVolume(10 * BLOCK_SIZE + 100, kinds)
    const base = await send(link, { open: openFor(first), records: first.records, blockMap: first.blockMap })

    // Grown: the old short last block is now full, and four blocks are new (one of them zero).
    const grownBytes = new Uint8Array(14 * BLOCK_SIZE + 2000)
    grownBytes.set(first.bytes)
    grownBytes.fill(7, 10 * BLOCK_SIZE + 100, 13 * BLOCK_SIZE)
    const grown = scanOf(grownBytes)
    const grownChanged = changedRecords(first, grown)
    expect(grownChanged.map((r) => r.index)).toEqual([10, 11, 12, 13, 14])
    const second = await send(link, {
      open: openFor(grown, { jobId: 'job-2', fencingToken: 6, baseRecoveryPointId: base.recoveryPointId }),
      records: grownChanged,
      blockMap: grown.blockMap,
    })
    await expectStored(store, second.recoveryPointId, grown)

    // Shrunk: blocks past the new end are dropped and the new short last block is sent.
    const shrunk = scanOf(grownBytes.slice(0, 6 * BLOCK_SIZE + 10))
    const shrunkChanged = changedRecords(grown, shrunk)
    expect(shrunkChanged.map((r) => r.index)).toEqual([6])
    const third = await send(link, {
      open: openFor(shrunk, { jobId: 'job-3', fencingToken: 7, baseRecoveryPointId: second.recoveryPointId }),
      records: shrunkChanged,
      blockMap: shrunk.blockMap,
    })
    await expectStored(store, third.recoveryPointId, shrunk)
    expect((await store.listPoints('acme', 'disk-0')).map((p) => p.blockCount)).toEqual([11, 15, 7])
  })

  it('keeps at most MAX_UNACKED_BATCHES batches in flight when the store is slow', async () => {
    const store = new MemoryChunkStore()
    let storing = 0
    let mostAtOnce = 0
    const put = store.putChunks.bind(store)
    store.putChunks = async (tenant, chunks) => {
      storing++
      mostAtOnce = Math.max(mostAtOnce, storing)
      await new Promise((resolve) => setTimeout(resolve, 40))
      await put(tenant, chunks)
      storing--
    }
    const link = await startLink(nodes, listeners, store)
    const volume = makeVolume(24 * BLOCK_SIZE, () => 'random')
    const blocks = await withLimit(
      openBlockStream(link.appliance, link.addr, { software: 'lifeboat/test' }),
      'open',
    )
    let batchesSent = 0
    let acked = 0
    let mostInFlight = 0
    // Batches go out through sendEncoded (the sender's own BLOCK_BATCH encoder), other messages through send.
    const channelSendEncoded = blocks.channel.sendEncoded.bind(blocks.channel)
    blocks.channel.sendEncoded = async (message, encode, signal) => {
      if (message.t === MessageType.BLOCK_BATCH) {
        batchesSent++
        mostInFlight = Math.max(mostInFlight, batchesSent - acked)
      }
      return channelSendEncoded(message, encode, signal)
    }
    const sent = await withLimit(
      sendVolume(blocks, {
        open: openFor(volume),
        records: volume.records,
        blockMap: volume.blockMap,
        maxBatchRecords: 1,
        onProgress: (p) => {
          acked = p.batchesAcked
        },
      }),
      'send',
    )
    // Pipelined up to the window and never beyond it (the connector would refuse the batch).
    expect(sent).toMatchObject({ batches: 24, dataRecords: 24 })
    expect(mostInFlight).toBe(MAX_UNACKED_BATCHES)
    expect(mostAtOnce).toBe(1)
    await expectStored(store, sent.recoveryPointId, volume)
  })

  it('answers a job that commits the same map again with the same point (a replay)', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const volume = makeVolume(12 * BLOCK_SIZE, kinds)
    const options = { open: openFor(volume), records: volume.records, blockMap: volume.blockMap }
    const first = await send(link, options)
    const again = await send(link, options)
    expect(again.recoveryPointId).toBe(first.recoveryPointId)
    expect(again.payloadBytes).toBe(0)
    expect(await store.listPoints('acme')).toHaveLength(1)
  })
})

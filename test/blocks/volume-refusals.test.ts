// What a connector with a chunk store refuses on a block stream, and that nothing is committed
// then: a stale fencing token, a bad base point, a chunk that does not match its digest, a HELD
// record for a digest it does not hold, a COMMIT whose summary disagrees, batches out of order or
// beyond the unacknowledged window. Misbehaving appliances are played by a raw block channel.
import { blake3 } from '@noble/hashes/blake3.js'
import { afterEach, describe, expect, it } from 'vitest'
import type { BlockChannel } from '../../agent/blocks/index.js'
import { type BlockListener, openBlockStream, sendVolume } from '../../agent/blocks/index.js'
import {
  type BlockRecord,
  type DataMessage,
  MessageType,
  RecordFlag,
  RemoteError,
  ZERO_DIGEST,
} from '../../protocol/index.js'
import { NodeSet, withLimit } from '../transport/helpers.js'
import { MemoryChunkStore } from './memory-chunk-store.js'
import {
  BLOCK_SIZE,
  eventually,
  type Link,
  makeVolume,
  next,
  openFor,
  RecordingLogger,
  rawVolumeChannel,
  startLink,
  type TestVolume,
} from './volume-helpers.js'

const nodes = new NodeSet()
const listeners: BlockListener[] = []

afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.stop()))
  await nodes.stopAll()
})

/** Blocks [from, to) of the volume as wire records (RAW or LZ4 as the scan made them). */
function wireRecords(volume: TestVolume, from: number, to: number): BlockRecord[] {
  return volume.records.slice(from, to).map((r) => ({
    index: r.index,
    digest: r.flags & 0x01 ? ZERO_DIGEST : r.digest,
    flags: r.flags & 0x01 ? RecordFlag.ZERO : r.flags & 0x02 ? RecordFlag.RAW : 0,
    payload: r.flags & 0x01 ? new Uint8Array(0) : r.payload!,
  }))
}

async function sendAll(link: Link, volume: TestVolume, open = openFor(volume), blockMap = volume.blockMap) {
  const blocks = await withLimit(
    openBlockStream(link.appliance, link.addr, { software: 'lifeboat/test' }),
    'open',
  )
  return withLimit(sendVolume(blocks, { open, records: volume.records, blockMap }), 'send').catch(
    (e: unknown) => e,
  )
}

async function commitFrame(
  channel: BlockChannel,
  mapDigest: Uint8Array,
  lastSeq: number,
  records: number,
  payloadBytes: number,
) {
  await channel.send({
    t: MessageType.COMMIT,
    rid: 9,
    jobId: 'job-1',
    summary: { blockCount: 8, mapDigest, lastSeq, records, payloadBytes },
  })
  return next(channel)
}

// Eight distinct blocks, all of random bytes (RAW records), so every record carries a chunk.
const distinct = (): TestVolume => makeVolume(8 * BLOCK_SIZE, () => 'random')

describe('a connector with a chunk store refuses', () => {
  it('an OPEN_VOLUME with a stale fencing token, with the store code, and closes the stream', async () => {
    const store = new MemoryChunkStore()
    await store.admitFencingToken('acme', 'disk-0', 9)
    const logger = new RecordingLogger()
    const link = await startLink(nodes, listeners, store, logger)
    const volume = distinct()
    const error = await sendAll(link, volume)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).toMatchObject({ code: 'BLOCKIO_FENCE_STALE', reType: MessageType.OPEN_VOLUME, reId: 1 })
    expect(store.putCalls).toEqual([])
    expect(await store.listPoints('acme')).toEqual([])
    expect(store.pins.size).toBe(0)
    expect(logger.lines.find((l) => l.fields.event === 'open-volume-refused')?.fields.code).toBe(
      'BLOCKIO_FENCE_STALE',
    )
  })

  it('a base point that does not exist, or of another volume', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const volume = distinct()
    const missing = await sendAll(link, volume, openFor(volume, { baseRecoveryPointId: 'nope' }))
    expect(missing).toMatchObject({ code: 'BLOCKIO_POINT_NOT_FOUND', reType: MessageType.OPEN_VOLUME })

    const other = await sendAll(link, volume, openFor(volume, { volumeId: 'disk-9', jobId: 'job-0' }))
    expect(other).toMatchObject({ recoveryPointId: 'job-0.disk-9' })
    const mismatch = await sendAll(link, volume, openFor(volume, { baseRecoveryPointId: 'job-0.disk-9' }))
    expect(mismatch).toMatchObject({ code: 'AGENT_BLOCKS_BASE_MISMATCH' })
    expect((mismatch as Error).message).toContain('disk-9')
    expect((await store.listPoints('acme')).map((p) => p.pointId)).toEqual(['job-0.disk-9'])
  })

  it('a batch with a chunk that does not match its digest: nothing of it is stored, nothing commits', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const volume = distinct()
    const channel = await rawVolumeChannel(link, openFor(volume))
    const records = wireRecords(volume, 0, 4)
    records[2] = { ...records[2]!, digest: blake3(new Uint8Array([1, 2, 3])) }
    await channel.send({ t: MessageType.BLOCK_BATCH, seq: 1, records })
    expect(await next(channel)).toMatchObject({
      t: MessageType.ERROR,
      code: 'BLOCKIO_CHUNK_DIGEST_MISMATCH',
      reType: MessageType.BLOCK_BATCH,
      reId: 1,
    })
    for (const record of records) expect(store.hasChunk('acme', record.digest)).toBe(false)

    // The stream stays usable; the volume cannot commit.
    await channel.send({ t: MessageType.HAVE_QUERY, rid: 3, digests: records[0]!.digest })
    expect(await next(channel)).toMatchObject({ t: MessageType.HAVE_ANSWER, rid: 3, count: 1 })
    await channel.send({ t: MessageType.BLOCK_BATCH, seq: 2, records: wireRecords(volume, 4, 8) })
    expect(await next(channel)).toMatchObject({ code: 'AGENT_BLOCKS_VOLUME_INCOMPLETE', reId: 2 })
    const refused = await commitFrame(channel, blake3(volume.blockMap), 1, 4, 4 * BLOCK_SIZE)
    expect(refused).toMatchObject({
      code: 'AGENT_BLOCKS_VOLUME_INCOMPLETE',
      reType: MessageType.COMMIT,
      reId: 9,
    })
    expect((refused as { message: string }).message).toContain('batch 1')
    expect(await store.listPoints('acme')).toEqual([])
    await channel.close()
    await eventually(() => store.pins.size === 0, 'pin released')
  })

  it('a HELD record for a digest the connector does not hold', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const volume = distinct()
    const channel = await rawVolumeChannel(link, openFor(volume))
    const records = wireRecords(volume, 0, 3)
    records[1] = { ...records[1]!, flags: RecordFlag.HELD, payload: new Uint8Array(0) }
    await channel.send({ t: MessageType.BLOCK_BATCH, seq: 1, records })
    const error = await next(channel)
    expect(error).toMatchObject({ code: 'AGENT_BLOCKS_NOT_HELD', reType: MessageType.BLOCK_BATCH, reId: 1 })
    expect((error as { message: string }).message).toContain('block 1')
    expect(store.putCalls).toEqual([])
  })

  it('a COMMIT whose map digest or counts disagree; a right COMMIT after it still commits', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const volume = distinct()
    const channel = await rawVolumeChannel(link, openFor(volume))
    await channel.send({ t: MessageType.BLOCK_BATCH, seq: 1, records: wireRecords(volume, 0, 8) })
    expect(await next(channel)).toMatchObject({ t: MessageType.BATCH_ACK, seq: 1, stored: 8 })

    const wrongMap = await commitFrame(channel, blake3(new Uint8Array(8)), 1, 8, 8 * BLOCK_SIZE)
    expect(wrongMap).toMatchObject({
      code: 'AGENT_BLOCKS_COMMIT_MISMATCH',
      reType: MessageType.COMMIT,
      reId: 9,
    })
    expect((wrongMap as { message: string }).message).toContain('mapDigest')
    const wrongCount = await commitFrame(channel, blake3(volume.blockMap), 1, 7, 8 * BLOCK_SIZE)
    expect(wrongCount).toMatchObject({ code: 'AGENT_BLOCKS_COMMIT_MISMATCH' })
    expect((wrongCount as { message: string }).message).toContain('records 7')
    expect(await store.listPoints('acme')).toEqual([])

    expect(await commitFrame(channel, blake3(volume.blockMap), 1, 8, 8 * BLOCK_SIZE)).toMatchObject({
      t: MessageType.COMMITTED,
      rid: 9,
      recoveryPointId: 'job-1.disk-0',
    })
  })

  it('a sender whose block map disagrees with its records: RemoteError, ABORT, no point', async () => {
    const store = new MemoryChunkStore()
    const logger = new RecordingLogger()
    const link = await startLink(nodes, listeners, store, logger)
    const volume = distinct()
    const error = await sendAll(link, volume, openFor(volume), new Uint8Array(volume.blockMap.length))
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).toMatchObject({ code: 'AGENT_BLOCKS_COMMIT_MISMATCH', reType: MessageType.COMMIT })
    expect(await store.listPoints('acme')).toEqual([])
    await eventually(() => logger.events().includes('volume-aborted'), 'abort logged')
    await eventually(() => store.pins.size === 0, 'pin released')
  })

  it('batches out of order', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const volume = distinct()
    const channel = await rawVolumeChannel(link, openFor(volume))
    await channel.send({ t: MessageType.BLOCK_BATCH, seq: 2, records: wireRecords(volume, 0, 2) })
    expect(await next(channel)).toMatchObject({ code: 'AGENT_BLOCKS_BATCH_OUT_OF_ORDER', reId: 2 })
    await channel.send({ t: MessageType.BLOCK_BATCH, seq: 1, records: wireRecords(volume, 0, 2) })
    expect(await next(channel)).toMatchObject({ code: 'AGENT_BLOCKS_VOLUME_INCOMPLETE', reId: 1 })
    expect(store.putCalls).toEqual([])
  })

  it('a batch beyond the unacknowledged window, and one that does not fit the volume', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const volume = distinct()
    const channel = await rawVolumeChannel(link, openFor(volume))
    let open!: () => void
    store.gate = new Promise<void>((resolve) => {
      open = resolve
    })
    for (let seq = 1; seq <= 5; seq++) {
      await channel.send({ t: MessageType.BLOCK_BATCH, seq, records: wireRecords(volume, seq - 1, seq) })
    }
    expect(await next(channel)).toMatchObject({
      code: 'AGENT_BLOCKS_TOO_MANY_UNACKED',
      reType: MessageType.BLOCK_BATCH,
      reId: 5,
    })
    open()
    const answers: DataMessage[] = []
    for (let i = 0; i < 4; i++) answers.push((await next(channel))!)
    // Batch 1 was being stored when the window broke and completes; the volume is spoiled, so the
    // three batches still waiting are refused.
    expect(answers[0]).toMatchObject({ t: MessageType.BATCH_ACK, seq: 1 })
    expect(
      answers.slice(1).map((a) => [(a as { code?: string }).code, (a as { reId?: number }).reId]),
    ).toEqual([
      ['AGENT_BLOCKS_VOLUME_INCOMPLETE', 2],
      ['AGENT_BLOCKS_VOLUME_INCOMPLETE', 3],
      ['AGENT_BLOCKS_VOLUME_INCOMPLETE', 4],
    ])
    expect(store.putCalls).toEqual([1])

    const other = await rawVolumeChannel(link, openFor(volume, { jobId: 'job-2' }))
    await other.send({
      t: MessageType.BLOCK_BATCH,
      seq: 1,
      records: [{ index: 8, digest: ZERO_DIGEST, flags: RecordFlag.ZERO, payload: new Uint8Array(0) }],
    })
    expect(await next(other)).toMatchObject({ code: 'PROTOCOL_VOLUME_MISMATCH', reId: 1 })
  })

  it('a second OPEN_VOLUME on a stream: one volume per stream', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const volume = distinct()
    const channel = await rawVolumeChannel(link, openFor(volume))
    await channel.send({ ...openFor(volume, { volumeId: 'disk-1' }), t: MessageType.OPEN_VOLUME, rid: 2 })
    expect(await next(channel)).toMatchObject({ code: 'PROTOCOL_UNEXPECTED_MESSAGE', reId: 2 })
  })
})

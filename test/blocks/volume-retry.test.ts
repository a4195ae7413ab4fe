// A volume whose stream is cut, or whose sender is aborted, commits nothing; the job's retry on a
// new stream sends the chunks already stored as HELD and makes the same point (same id, same map).
import { blake3 } from '@noble/hashes/blake3.js'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type BlockListener,
  openBlockStream,
  recoveryPointIdFor,
  sendVolume,
} from '../../agent/blocks/index.js'
import { MessageType, RecordFlag } from '../../protocol/index.js'
import { NodeSet, withLimit } from '../transport/helpers.js'
import { MemoryChunkStore } from './memory-chunk-store.js'
import {
  BLOCK_SIZE,
  eventually,
  makeVolume,
  next,
  openFor,
  RecordingLogger,
  rawVolumeChannel,
  startLink,
} from './volume-helpers.js'

const nodes = new NodeSet()
const listeners: BlockListener[] = []

afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.stop()))
  await nodes.stopAll()
})

describe('an interrupted volume', () => {
  it('commits nothing when the stream is cut; the retry sends stored chunks as HELD', async () => {
    const store = new MemoryChunkStore()
    const logger = new RecordingLogger()
    const link = await startLink(nodes, listeners, store, logger)
    const volume = makeVolume(32 * BLOCK_SIZE + 10, () => 'random')
    const open = openFor(volume)

    const first = await withLimit(
      openBlockStream(link.appliance, link.addr, { software: 'lifeboat/test' }),
      'open',
    )
    const cut = await withLimit(
      sendVolume(first, {
        open,
        records: volume.records,
        blockMap: volume.blockMap,
        maxBatchRecords: 4,
        onProgress: (p) => {
          if (p.batchesAcked === 2) first.channel.abort(new Error('cable pulled'))
        },
      }).catch((e: unknown) => e),
      'cut send',
    )
    expect(cut).toBeInstanceOf(Error)
    await eventually(() => logger.events().includes('volume-closed'), 'session ended')
    expect(await store.listPoints('acme')).toEqual([])
    expect(store.pins.size).toBe(0)
    const stored = store.chunks.get('acme')?.size ?? 0
    expect(stored).toBeGreaterThanOrEqual(8)
    expect(stored).toBeLessThan(volume.blockCount)

    const second = await withLimit(
      openBlockStream(link.appliance, link.addr, { software: 'lifeboat/test' }),
      'open',
    )
    const retry = await withLimit(
      sendVolume(second, { open, records: volume.records, blockMap: volume.blockMap, maxBatchRecords: 4 }),
      'retry',
    )
    expect(retry.heldRecords).toBe(stored)
    expect(retry.dataRecords).toBe(volume.blockCount - stored)
    expect(retry.recoveryPointId).toBe(recoveryPointIdFor('job-1', 'disk-0'))
    const [point] = await store.listPoints('acme')
    expect(point?.mapDigest).toBe(Buffer.from(blake3(volume.blockMap)).toString('hex'))
    expect(store.chunks.get('acme')?.size).toBe(volume.blockCount)
  })

  it('sends ABORT when its signal is aborted: no point, the pin is released', async () => {
    const store = new MemoryChunkStore()
    const logger = new RecordingLogger()
    const link = await startLink(nodes, listeners, store, logger)
    const volume = makeVolume(16 * BLOCK_SIZE, () => 'random')
    const stop = new AbortController()
    const blocks = await withLimit(
      openBlockStream(link.appliance, link.addr, { software: 'lifeboat/test' }),
      'open',
    )
    const error = await withLimit(
      sendVolume(blocks, {
        open: openFor(volume),
        records: volume.records,
        blockMap: volume.blockMap,
        maxBatchRecords: 2,
        signal: stop.signal,
        onProgress: (p) => {
          if (p.batchesAcked === 1) stop.abort()
        },
      }).catch((e: unknown) => e),
      'aborted send',
    )
    expect(error).toMatchObject({ code: 'TRANSPORT_ABORTED' })
    await eventually(() => logger.events().includes('volume-aborted'), 'abort logged')
    const aborted = logger.lines.find((l) => l.fields.event === 'volume-aborted')
    expect(aborted?.fields.code).toBe('TRANSPORT_ABORTED')
    expect(await store.listPoints('acme')).toEqual([])
    await eventually(() => store.pins.size === 0, 'pin released')
  })

  it('pins what it stored until the volume ends: a collection meanwhile keeps it', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const volume = makeVolume(4 * BLOCK_SIZE, () => 'random')
    const channel = await rawVolumeChannel(link, openFor(volume))
    const records = volume.records.map((r) => ({
      index: r.index,
      digest: r.digest,
      flags: RecordFlag.RAW,
      payload: r.payload!,
    }))
    await channel.send({ t: MessageType.BLOCK_BATCH, seq: 1, records })
    expect(await next(channel)).toMatchObject({ t: MessageType.BATCH_ACK, seq: 1, stored: 4 })
    expect(await store.collectGarbage('acme')).toMatchObject({ chunksRemoved: 0 })
    await channel.close()
    await eventually(() => store.pins.size === 0, 'pin released')
    expect(await store.collectGarbage('acme')).toMatchObject({ chunksRemoved: 4 })
  })

  it('gives up on a connector that stays silent while answers are due, and aborts the volume', async () => {
    const store = new MemoryChunkStore()
    let open!: () => void
    store.gate = new Promise<void>((resolve) => {
      open = resolve
    })
    const logger = new RecordingLogger()
    const link = await startLink(nodes, listeners, store, logger)
    const volume = makeVolume(8 * BLOCK_SIZE, () => 'random')
    const blocks = await withLimit(
      openBlockStream(link.appliance, link.addr, { software: 'lifeboat/test' }),
      'open',
    )
    const error = await withLimit(
      sendVolume(blocks, {
        open: openFor(volume),
        records: volume.records,
        blockMap: volume.blockMap,
        maxBatchRecords: 1,
        answerTimeoutMs: 300,
      }).catch((e: unknown) => e),
      'silent connector',
    )
    expect(error).toMatchObject({ code: 'AGENT_BLOCKS_ANSWER_TIMEOUT', retryable: true })
    open()
    await eventually(() => logger.events().includes('volume-aborted'), 'abort logged')
    expect(await store.listPoints('acme')).toEqual([])
  })

  it('refuses a record it cannot send, and aborts the volume', async () => {
    const store = new MemoryChunkStore()
    const link = await startLink(nodes, listeners, store)
    const volume = makeVolume(4 * BLOCK_SIZE, () => 'random')
    const blocks = await withLimit(
      openBlockStream(link.appliance, link.addr, { software: 'lifeboat/test' }),
      'open',
    )
    const records = [volume.records[0]!, { ...volume.records[1]!, payload: undefined }]
    const error = await withLimit(
      sendVolume(blocks, { open: openFor(volume), records, blockMap: volume.blockMap }).catch(
        (e: unknown) => e,
      ),
      'send',
    )
    expect(error).toMatchObject({ code: 'AGENT_BLOCKS_INVALID_RECORD' })
    expect((error as Error).message).toContain('block 1 has no payload')
    const outOfOrder = await withLimit(
      openBlockStream(link.appliance, link.addr, { software: 'lifeboat/test' }),
      'open',
    )
    await expect(
      sendVolume(outOfOrder, {
        open: openFor(volume),
        records: [volume.records[2]!, volume.records[1]!],
        blockMap: volume.blockMap,
      }),
    ).rejects.toMatchObject({ code: 'AGENT_BLOCKS_INVALID_RECORD' })
    expect(await store.listPoints('acme')).toEqual([])
  })
})

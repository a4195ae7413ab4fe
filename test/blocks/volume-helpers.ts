/**
 * Shared by the volume tests: synthetic volumes and the records a scan would yield for them, a
 * connector with a chunk store and an appliance on loopback, and a raw block channel for frames the
 * sender never sends.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { blake3 } from '@noble/hashes/blake3.js'
import { compressSync } from 'lz4-napi'
import { expect } from 'vitest'
import {
  BlockChannel,
  type BlockListener,
  type ScanRecordLike,
  startBlockListener,
} from '../../agent/blocks/index.js'
import type { AgentLogger } from '../../agent/control/logger.js'
import type { ChunkStore } from '../../blockio/chunk-store/chunk-store.js'
import {
  BLOCKS_PROTOCOL_ID,
  type DataMessage,
  DIGEST_LENGTH,
  MessageType,
  type OpenVolume,
} from '../../protocol/index.js'
import { type LifeboatNode, openStreamOn } from '../../transport/index.js'
import { type NodeSet, withLimit } from '../transport/helpers.js'

export const BLOCK_SIZE = 4096

/** A volume's bytes and what a full scan of it yields. */
export interface TestVolume {
  bytes: Uint8Array
  size: number
  blockCount: number
  records: ScanRecordLike[]
  blockMap: Uint8Array
}

/**
 * A volume of `size` bytes whose block i is made by `fill(i)`: 'zero', 'random', 'text' (LZ4
 * shrinks it) or a number (a block of that byte repeated, so equal numbers give equal blocks).
 */
export function makeVolume(
  size: number,
  fill: (index: number) => 'zero' | 'random' | 'text' | number,
): TestVolume {
  const bytes = new Uint8Array(size)
  const blockCount = Math.ceil(size / BLOCK_SIZE)
  for (let i = 0; i < blockCount; i++) {
    const block = bytes.subarray(i * BLOCK_SIZE, Math.min(size, (i + 1) * BLOCK_SIZE))
    const kind = fill(i)
    if (kind === 'random') crypto.getRandomValues(block)
    else if (kind === 'text')
      block.set(new TextEncoder().encode(`block ${i} `.repeat(1000)).subarray(0, block.length))
    else if (typeof kind === 'number') block.fill(kind)
  }
  return scanOf(bytes)
}

/** What a compressing full scan yields for `bytes`: every block, LZ4 where it shrinks, else RAW. */
export function scanOf(bytes: Uint8Array): TestVolume {
  const size = bytes.length
  const blockCount = Math.ceil(size / BLOCK_SIZE)
  const records: ScanRecordLike[] = []
  const blockMap = new Uint8Array(blockCount * DIGEST_LENGTH)
  for (let index = 0; index < blockCount; index++) {
    const block = bytes.subarray(index * BLOCK_SIZE, Math.min(size, (index + 1) * BLOCK_SIZE))
    if (block.every((b) => b === 0)) {
      records.push({ index, digest: new Uint8Array(DIGEST_LENGTH), flags: 0x01 })
      continue
    }
    const digest = blake3(block)
    blockMap.set(digest, index * DIGEST_LENGTH)
    const lz4 = new Uint8Array(compressSync(Buffer.from(block)))
    records.push(
      lz4.length < block.length
        ? { index, digest, flags: 0x04, payload: lz4 }
        : { index, digest, flags: 0x02 | 0x04, payload: Uint8Array.from(block) },
    )
  }
  return { bytes, size, blockCount, records, blockMap }
}

/** The blocks of `next` that differ from `previous` (by digest or length): an incremental scan. */
export function changedRecords(previous: TestVolume, next: TestVolume): ScanRecordLike[] {
  return next.records.filter((record) => {
    const i = record.index
    if (i >= previous.blockCount) return true
    const sameLength =
      Math.min(BLOCK_SIZE, previous.size - i * BLOCK_SIZE) ===
      Math.min(BLOCK_SIZE, next.size - i * BLOCK_SIZE)
    const before = previous.blockMap.subarray(i * DIGEST_LENGTH, (i + 1) * DIGEST_LENGTH)
    const after = next.blockMap.subarray(i * DIGEST_LENGTH, (i + 1) * DIGEST_LENGTH)
    return !sameLength || !Buffer.from(before).equals(Buffer.from(after))
  })
}

export function openFor(
  volume: TestVolume,
  overrides: Partial<Omit<OpenVolume, 't' | 'rid'>> = {},
): Omit<OpenVolume, 't' | 'rid'> {
  return {
    tenant: 'acme',
    vmId: 'vm-1',
    volumeId: 'disk-0',
    jobId: 'job-1',
    fencingToken: 5,
    blockSize: BLOCK_SIZE,
    volumeSize: volume.size,
    blockCount: volume.blockCount,
    ...overrides,
  }
}

/** Log lines a test can look at. */
export class RecordingLogger implements AgentLogger {
  readonly lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = []
  debug = (fields: object, message: string): void => this.#push('debug', fields, message)
  info = (fields: object, message: string): void => this.#push('info', fields, message)
  warn = (fields: object, message: string): void => this.#push('warn', fields, message)
  error = (fields: object, message: string): void => this.#push('error', fields, message)
  events(): unknown[] {
    return this.lines.map((line) => line.fields.event)
  }
  #push(level: string, fields: object, message: string): void {
    this.lines.push({ level, fields: fields as Record<string, unknown>, message })
  }
}

export interface Link {
  connector: LifeboatNode
  appliance: LifeboatNode
  addr: string
  listener: BlockListener
}

/** A connector serving `store` on loopback and an appliance that never listens. */
export async function startLink(
  nodes: NodeSet,
  listeners: BlockListener[],
  store: ChunkStore,
  logger?: AgentLogger,
): Promise<Link> {
  const connector = await nodes.start({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  const listener = await startBlockListener(connector, {
    software: 'lifeboat/test',
    chunkStore: store,
    now: () => 1_700_000_000_000,
    logger,
  })
  listeners.push(listener)
  const appliance = await nodes.start()
  return { connector, appliance, addr: listener.addresses[0]!, listener }
}

/** A raw block channel past HELLO and VOLUME_OPENED, for frames the sender never sends. */
export async function rawVolumeChannel(
  link: Link,
  open: Omit<OpenVolume, 't' | 'rid'>,
): Promise<BlockChannel> {
  const connection = await link.appliance.dial(multiaddr(link.addr))
  const channel = new BlockChannel(await openStreamOn(connection, BLOCKS_PROTOCOL_ID))
  await channel.send({
    t: MessageType.HELLO,
    protocol: { major: 1, minor: 0 },
    nodeId: link.appliance.peerId.toString(),
    role: 'appliance',
    software: 'x/1',
  })
  await withLimit(channel.receiveHello(), 'hello')
  await channel.send({ ...open, t: MessageType.OPEN_VOLUME, rid: 1 })
  expect(await next(channel)).toMatchObject({ t: MessageType.VOLUME_OPENED, rid: 1 })
  return channel
}

export async function next(channel: BlockChannel): Promise<DataMessage | undefined> {
  return withLimit(channel.receive(), 'next frame')
}

/** Resolves once `check` holds, polling every 10 ms for at most 5 s. */
export async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited >= 5_000) throw new Error(`${what}: not within 5 s`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

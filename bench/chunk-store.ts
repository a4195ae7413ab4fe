/**
 * putChunks throughput: 64 KiB blocks, LZ4-compressed as the appliance sends them, stored in calls of
 * 256 chunks (one 16 MiB BLOCK_BATCH), two calls in flight, against the peer figure of writing the same plaintext to one
 * file and fsyncing it once, and against `rsync --whole-file` copying that file to a new one (rsync
 * does not fsync; skipped when rsync is not installed).
 *
 *   npm run build && node dist/bench/chunk-store.js [MiB, default 512]
 *
 * Not part of `npm run bench` yet; prints its figures only.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { blake3 } from '@napi-rs/blake-hash'
import { compressSync } from 'lz4-napi'
import { ChunkEncoding, type IncomingChunk, openChunkStore } from '../blockio/chunk-store/index.js'

const BLOCK = 64 * 1024
const CHUNKS_PER_CALL = 256

/** Half random, half repeated bytes: compresses about 2:1, like a mixed VM disk. */
function blockOf(index: number): Buffer {
  const block = Buffer.alloc(BLOCK, index & 0xff)
  randomBytes(BLOCK / 2).copy(block, 0)
  return block
}

export async function runChunkStoreBench(
  mib: number,
): Promise<{ storeMBps: number; peerMBps: number; rsyncMBps?: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-bench-chunk-store-'))
  try {
    const blocks = Math.max(CHUNKS_PER_CALL, Math.floor((mib * 1024 * 1024) / BLOCK))
    const plain: Buffer[] = []
    const chunks: IncomingChunk[] = []
    for (let i = 0; i < blocks; i++) {
      const block = blockOf(i)
      plain.push(block)
      chunks.push({
        digest: blake3(block),
        encoding: ChunkEncoding.LZ4,
        plainLength: BLOCK,
        payload: compressSync(block),
      })
    }
    const store = await openChunkStore({
      root: join(dir, 'store'),
      masterKey: new Uint8Array(randomBytes(32)),
    })
    let started = performance.now()
    for (let i = 0; i < blocks; i += CHUNKS_PER_CALL)
      await store.putChunks('bench', chunks.slice(i, i + CHUNKS_PER_CALL))
    const storeSeconds = (performance.now() - started) / 1000
    await store.close()

    const file = await open(join(dir, 'peer.img'), 'w')
    started = performance.now()
    for (let i = 0; i < blocks; i += CHUNKS_PER_CALL) await file.writev(plain.slice(i, i + CHUNKS_PER_CALL))
    await file.sync()
    const peerSeconds = (performance.now() - started) / 1000
    await file.close()
    const megabytes = (blocks * BLOCK) / 1e6
    started = performance.now()
    const rsync = spawnSync('rsync', ['--whole-file', join(dir, 'peer.img'), join(dir, 'rsync.img')])
    const rsyncSeconds = (performance.now() - started) / 1000
    return {
      storeMBps: megabytes / storeSeconds,
      peerMBps: megabytes / peerSeconds,
      rsyncMBps: rsync.status === 0 ? megabytes / rsyncSeconds : undefined,
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const mib = Number(process.argv[2] ?? 512)
  const { storeMBps, peerMBps, rsyncMBps } = await runChunkStoreBench(mib)
  console.log(`chunk store putChunks (64 KiB LZ4, 256 per call): ${storeMBps.toFixed(0)} MB/s of plaintext`)
  console.log(`peer: write + one fsync of the plaintext:          ${peerMBps.toFixed(0)} MB/s`)
  console.log(`ratio store / peer: ${(storeMBps / peerMBps).toFixed(2)}`)
  if (rsyncMBps !== undefined) {
    console.log(`rsync --whole-file of the plaintext (no fsync):   ${rsyncMBps.toFixed(0)} MB/s`)
    console.log(`ratio store / rsync: ${(storeMBps / rsyncMBps).toFixed(2)}`)
  }
}

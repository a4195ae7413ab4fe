/**
 * putChunks throughput and CPU: 64 KiB blocks, LZ4-compressed as the appliance sends them, stored in
 * calls of 256 chunks (one 16 MiB BLOCK_BATCH) one after another as a volume session does, with each
 * call's payloads and digests views into one frame buffer as the msgpack decoder leaves them. The
 * peer figure is writing the same plaintext to one file and fsyncing it once, and `rsync
 * --whole-file` copying that file to a new one (rsync does not fsync; skipped when rsync is not
 * installed). CPU is process.cpuUsage (user + system, every thread of the process, so the store's
 * workers count) over the putChunks calls, per GiB of plaintext stored.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/chunk-store.js [MiB, default 512] [workers]
 *
 * `workers` is ChunkStoreInit.workers (default: the store's default). Not part of `npm run bench`
 * yet; prints its figures only (docs/BENCHMARKS.md "Chunk store").
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { blake3 } from '@napi-rs/blake-hash'
import { compressSync } from 'lz4-napi'
import { ChunkEncoding, type IncomingChunk, openChunkStore } from '../blockio/chunk-store/index.js'

const BLOCK = 64 * 1024
const CHUNKS_PER_CALL = 256
const GIB = 1024 ** 3

/** Half random, half repeated bytes: compresses about 2:1, like a mixed VM disk. */
function blockOf(index: number): Buffer {
  const block = Buffer.alloc(BLOCK, index & 0xff)
  randomBytes(BLOCK / 2).copy(block, 0)
  return block
}

/** One call's chunks, their digests and payloads packed into one buffer like a decoded frame. */
function frameOf(blocks: Buffer[]): IncomingChunk[] {
  const parts = blocks.map((block) => ({ digest: blake3(block), payload: compressSync(block) }))
  const total = parts.reduce((sum, part) => sum + 32 + part.payload.byteLength, 0)
  const frame = Buffer.allocUnsafe(total)
  let at = 0
  return parts.map((part) => {
    const digest = frame.subarray(at, at + 32)
    part.digest.copy(digest)
    at += 32
    const payload = frame.subarray(at, at + part.payload.byteLength)
    part.payload.copy(payload)
    at += part.payload.byteLength
    return { digest, encoding: ChunkEncoding.LZ4, plainLength: BLOCK, payload }
  })
}

/** CPU seconds of this process's main thread (Linux /proc; undefined elsewhere). */
function mainThreadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

export interface ChunkStoreBenchResult {
  storeMBps: number
  /** CPU seconds (all threads) per GiB of plaintext stored. */
  cpuSecondsPerGiB: number
  /** CPU seconds of the main thread alone per GiB (where /proc tells). */
  mainCpuSecondsPerGiB?: number
  /** Peak resident memory of the process so far (inputs included), MiB. */
  peakRssMiB: number
  peerMBps: number
  rsyncMBps?: number
}

export async function runChunkStoreBench(mib: number, workers?: number): Promise<ChunkStoreBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-bench-chunk-store-'))
  try {
    const blocks = Math.max(CHUNKS_PER_CALL, Math.floor((mib * 1024 * 1024) / BLOCK))
    const plain: Buffer[] = []
    const calls: IncomingChunk[][] = []
    for (let i = 0; i < blocks; i += CHUNKS_PER_CALL) {
      const group: Buffer[] = []
      for (let j = i; j < Math.min(blocks, i + CHUNKS_PER_CALL); j++) group.push(blockOf(j))
      plain.push(...group)
      calls.push(frameOf(group))
    }
    const store = await openChunkStore({
      root: join(dir, 'store'),
      masterKey: new Uint8Array(randomBytes(32)),
      ...(workers === undefined ? {} : { workers }),
    })
    // The first call starts the tenant (key file, first pack): not part of the figure.
    await store.putChunks('bench', calls[0])
    const cpu = process.cpuUsage()
    const mainCpu = mainThreadCpuSeconds()
    let started = performance.now()
    for (let c = 1; c < calls.length; c++) await store.putChunks('bench', calls[c])
    const storeSeconds = (performance.now() - started) / 1000
    const used = process.cpuUsage(cpu)
    const mainCpuAfter = mainThreadCpuSeconds()
    const peakRssMiB = process.resourceUsage().maxRSS / 1024
    await store.close()
    const storedBytes = (blocks - calls[0].length) * BLOCK

    const file = await open(join(dir, 'peer.img'), 'w')
    started = performance.now()
    for (let i = 0; i < blocks; i += CHUNKS_PER_CALL) await file.writev(plain.slice(i, i + CHUNKS_PER_CALL))
    await file.sync()
    const peerSeconds = (performance.now() - started) / 1000
    await file.close()
    started = performance.now()
    const rsync = spawnSync('rsync', ['--whole-file', join(dir, 'peer.img'), join(dir, 'rsync.img')])
    const rsyncSeconds = (performance.now() - started) / 1000
    return {
      storeMBps: storedBytes / 1e6 / storeSeconds,
      cpuSecondsPerGiB: (used.user + used.system) / 1e6 / (storedBytes / GIB),
      mainCpuSecondsPerGiB:
        mainCpu === undefined || mainCpuAfter === undefined
          ? undefined
          : (mainCpuAfter - mainCpu) / (storedBytes / GIB),
      peakRssMiB,
      peerMBps: (blocks * BLOCK) / 1e6 / peerSeconds,
      rsyncMBps: rsync.status === 0 ? (blocks * BLOCK) / 1e6 / rsyncSeconds : undefined,
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const mib = Number(process.argv[2] ?? 512)
  const workers = process.argv[3] === undefined ? undefined : Number(process.argv[3])
  const { storeMBps, cpuSecondsPerGiB, mainCpuSecondsPerGiB, peakRssMiB, peerMBps, rsyncMBps } =
    await runChunkStoreBench(mib, workers)
  const label = workers === undefined ? 'default workers' : `workers ${workers}`
  const main = mainCpuSecondsPerGiB === undefined ? '' : `, main thread ${mainCpuSecondsPerGiB.toFixed(2)}`
  console.log(
    `chunk store putChunks (64 KiB LZ4, 256 per call, ${label}): ${storeMBps.toFixed(0)} MB/s of plaintext, CPU-s/GiB all threads ${cpuSecondsPerGiB.toFixed(2)}${main}; peak RSS ${peakRssMiB.toFixed(0)} MiB`,
  )
  console.log(`peer: write + one fsync of the plaintext:          ${peerMBps.toFixed(0)} MB/s`)
  console.log(`ratio store / peer: ${(storeMBps / peerMBps).toFixed(2)}`)
  if (rsyncMBps !== undefined) {
    console.log(`rsync --whole-file of the plaintext (no fsync):   ${rsyncMBps.toFixed(0)} MB/s`)
    console.log(`ratio store / rsync: ${(storeMBps / rsyncMBps).toFixed(2)}`)
  }
}

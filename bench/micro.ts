/**
 * Micro-benchmarks (tinybench) of the libraries on the scan and wire hot paths: each BLAKE3
 * implementation, LZ4 on zero / random / mixed blocks, and msgpackr on a batch of block records.
 * Figures are MB/s from the median latency (1 MB = 1e6 bytes), so one slow sample on a shared
 * machine does not move them.
 */
import { blake3 as nativeBlake3 } from '@napi-rs/blake-hash'
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js'
import { createBLAKE3 } from 'hash-wasm'
import { compressSync, uncompressSync } from 'lz4-napi'
import { Packr } from 'msgpackr'
import { Bench } from 'tinybench'
import { createMixedPool, MIXED_BLOCK_SIZE } from './mixed-content.js'

export interface MicroResult {
  group: string
  name: string
  bytesPerOp: number
  medianMs: number
  mbPerSec: number
}

const BENCH_TIME_MS = 400

function concatBlocks(blocks: Uint8Array[]): Buffer {
  return Buffer.concat(blocks.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)))
}

export async function runMicroBenchmarks(log: (line: string) => void = console.log): Promise<MicroResult[]> {
  const pool = createMixedPool(7)
  const mixed64k = pool.blocks.filter((_, i) => pool.kinds[i] !== 'zero').slice(0, 16)
  const random1m = Buffer.alloc(1 << 20)
  for (let i = 0; i < random1m.length; i += 4) random1m.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i)
  const random64k = random1m.subarray(0, MIXED_BLOCK_SIZE)
  const zero64k = Buffer.alloc(MIXED_BLOCK_SIZE)
  const mixedMiB = concatBlocks(mixed64k)
  const wasm = await createBLAKE3()
  const results: MicroResult[] = []

  const groups: Array<{ group: string; tasks: Array<[string, number, () => unknown]> }> = []

  groups.push({
    group: 'BLAKE3',
    tasks: [
      ['native @napi-rs/blake-hash 64 KiB', MIXED_BLOCK_SIZE, () => nativeBlake3(random64k)],
      ['native @napi-rs/blake-hash 1 MiB', random1m.length, () => nativeBlake3(random1m)],
      ['wasm hash-wasm 64 KiB', MIXED_BLOCK_SIZE, () => wasm.init().update(random64k).digest('binary')],
      ['wasm hash-wasm 1 MiB', random1m.length, () => wasm.init().update(random1m).digest('binary')],
      ['js @noble/hashes 64 KiB (reference only)', MIXED_BLOCK_SIZE, () => nobleBlake3(random64k)],
    ],
  })

  const compressedMixed = mixed64k.map((b) => compressSync(Buffer.from(b)))
  const compressedZero = compressSync(zero64k)
  const compressedRandom = compressSync(random64k)
  let k = 0
  groups.push({
    group: 'LZ4 (lz4-napi, per 64 KiB block)',
    tasks: [
      ['compress zero', MIXED_BLOCK_SIZE, () => compressSync(zero64k)],
      ['compress random', MIXED_BLOCK_SIZE, () => compressSync(random64k)],
      ['compress mixed', MIXED_BLOCK_SIZE, () => compressSync(Buffer.from(mixed64k[k++ & 15]!))],
      ['decompress zero', MIXED_BLOCK_SIZE, () => uncompressSync(compressedZero)],
      ['decompress random', MIXED_BLOCK_SIZE, () => uncompressSync(compressedRandom)],
      ['decompress mixed', MIXED_BLOCK_SIZE, () => uncompressSync(compressedMixed[k++ & 15]!)],
    ],
  })

  // A batch of 64 block records as the data protocol carries them: index, digest, flags, payload.
  const packr = new Packr({ useRecords: true })
  const records = compressedMixed.map((payload, i) => ({
    i,
    h: nativeBlake3(mixed64k[i]!),
    f: 4,
    p: payload,
  }))
  const batch = { t: 1, seq: 1, r: [...records, ...records, ...records, ...records] }
  const encoded = packr.pack(batch)
  groups.push({
    group: 'msgpackr (batch of 64 block records)',
    tasks: [
      ['encode', encoded.length, () => packr.pack(batch)],
      ['decode', encoded.length, () => packr.unpack(encoded)],
    ],
  })

  for (const { group, tasks } of groups) {
    const bench = new Bench({ name: group, time: BENCH_TIME_MS, warmupTime: 100 })
    for (const [name, , fn] of tasks) bench.add(name, fn)
    await bench.run()
    log(`\n${group}`)
    for (const [name, bytes] of tasks) {
      const task = bench.getTask(name)
      const medianMs =
        (task?.result && 'latency' in task.result ? task.result.latency.p50 : undefined) ?? Number.NaN
      const mbPerSec = bytes / 1e6 / (medianMs / 1e3)
      results.push({ group, name, bytesPerOp: bytes, medianMs, mbPerSec })
      log(`  ${name.padEnd(44)} ${mbPerSec.toFixed(0).padStart(7)} MB/s`)
    }
  }
  log(`\nmixed 1 MiB sample compresses to ${(mixedMiB.length / compressSync(mixedMiB).length).toFixed(2)}:1`)
  return results
}

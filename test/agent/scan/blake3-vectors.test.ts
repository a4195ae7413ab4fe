import { readFileSync } from 'node:fs'
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js'
import { describe, expect, it } from 'vitest'
import { type Blake3Implementation, loadNativeBlake3, loadWasmBlake3 } from '../../../agent/scan/blake3.js'
import { seeded } from './helpers.js'

interface Vectors {
  cases: Array<{ inputLength: number; hash: string }>
}

// Official BLAKE3 test vectors; origin noted in the file.
const vectors = JSON.parse(
  readFileSync(new URL('../../fixtures/blake3-vectors.json', import.meta.url), 'utf8'),
) as Vectors

function vectorInput(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => i % 251)
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

const implementations: Array<[string, () => Promise<Blake3Implementation>]> = [
  ['native', loadNativeBlake3],
  ['wasm', loadWasmBlake3],
]

describe.each(implementations)('BLAKE3 %s', (_name, load) => {
  it('gives the official test vectors (first 32 bytes of each hash)', async () => {
    const impl = await load()
    expect(vectors.cases.length).toBeGreaterThanOrEqual(22)
    for (const { inputLength, hash } of vectors.cases) {
      expect({ inputLength, hash: hex(impl.hash(vectorInput(inputLength))) }).toEqual({ inputLength, hash })
    }
  })

  it('equals @noble/hashes on random inputs of many lengths, including views at odd offsets', async () => {
    const impl = await load()
    const random = seeded(3)
    const lengths = [
      0, 1, 31, 32, 63, 64, 65, 1023, 1024, 1025, 4095, 4096, 4097, 65535, 65536, 65537, 200_000,
    ]
    for (let i = 0; i < 20; i++) lengths.push(Math.floor(random() * 300_000))
    const pool = new Uint8Array(300_000 + 17)
    for (let i = 0; i < pool.length; i++) pool[i] = Math.floor(random() * 256)
    for (const length of lengths) {
      const offset = Math.floor(random() * 17)
      const input = pool.subarray(offset, offset + length)
      expect(hex(impl.hash(input)), `length ${length} at offset ${offset}`).toBe(hex(nobleBlake3(input)))
    }
  })

  it('returns a fresh 32-byte digest that later hashes do not overwrite', async () => {
    const impl = await load()
    const first = impl.hash(new Uint8Array([1, 2, 3]))
    const kept = hex(first)
    impl.hash(new Uint8Array(1000).fill(9))
    expect(first.byteLength).toBe(32)
    expect(hex(first)).toBe(kept)
  })
})

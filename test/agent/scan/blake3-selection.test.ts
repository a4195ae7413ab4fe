import { describe, expect, it } from 'vitest'
import {
  type Blake3Implementation,
  blake3,
  blake3ImplementationName,
  checkBlake3,
  loadBlake3,
  loadNativeBlake3,
  loadWasmBlake3,
  selectBlake3,
} from '../../../agent/scan/blake3.js'

const brokenLoad = async (): Promise<Blake3Implementation> => {
  throw new Error('native binary missing for this platform')
}
const wrongDigests = async (): Promise<Blake3Implementation> => ({
  name: '@napi-rs/blake-hash',
  hash: () => new Uint8Array(32),
})

describe('choosing a BLAKE3 implementation', () => {
  it('blake3() refuses to hash before loadBlake3() resolved', () => {
    expect(blake3ImplementationName()).toBeUndefined()
    expect(() => blake3(new Uint8Array(1))).toThrow(
      expect.objectContaining({ code: 'SCAN_BLAKE3_UNAVAILABLE' }),
    )
  })

  it('falls back to WASM when the native binding does not load, with equal digests', async () => {
    const chosen = await selectBlake3([brokenLoad, loadWasmBlake3])
    expect(chosen.name).toBe('hash-wasm')
    const native = await loadNativeBlake3()
    const input = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256)
    expect(Buffer.from(chosen.hash(input)).equals(Buffer.from(native.hash(input)))).toBe(true)
  })

  it('passes over an implementation that gives wrong digests', async () => {
    expect(() => checkBlake3({ name: 'hash-wasm', hash: () => new Uint8Array(32) })).toThrow(/known input/)
    const chosen = await selectBlake3([wrongDigests, loadWasmBlake3])
    expect(chosen.name).toBe('hash-wasm')
  })

  it('fails with a coded error naming every reason when no candidate works', async () => {
    const failure = selectBlake3([brokenLoad, wrongDigests])
    await expect(failure).rejects.toMatchObject({ code: 'SCAN_BLAKE3_UNAVAILABLE', retryable: false })
    await expect(failure).rejects.toThrow(/native binary missing.*known input/)
  })

  it('prefers the native binding, chooses once per thread and refuses a conflicting later preference', async () => {
    const chosen = await loadBlake3()
    expect(chosen.name).toBe('@napi-rs/blake-hash')
    expect(blake3ImplementationName()).toBe('@napi-rs/blake-hash')
    expect(await loadBlake3('native')).toBe(chosen)
    await expect(loadBlake3('wasm')).rejects.toMatchObject({ code: 'SCAN_BLAKE3_UNAVAILABLE' })
    expect(Buffer.from(blake3(new TextEncoder().encode('abc'))).toString('hex')).toBe(
      '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85',
    )
  })
})

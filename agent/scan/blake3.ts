/**
 * The BLAKE3 hash that names every block (DESIGN.md "Blocks"), chosen once per thread at load.
 *
 * An *implementation* is a synchronous function from bytes to a 32-byte digest plus its name. The
 * *candidates* are tried in order: the native binding `@napi-rs/blake-hash` (~3 GB/s per core, and it
 * hashes the caller's bytes without copying them), then the WASM build of `hash-wasm` (~0.7 GB/s), for
 * machines where the native binary cannot load. A candidate is *chosen* only when it loads and gives
 * the published digests of two known inputs, so a broken binary never names blocks silently wrong.
 *
 * `@noble/hashes` is not a candidate: it is 80× slower and serves as the independent reference in
 * tests only (notes/MEASURED-FACTS.md "BLAKE3").
 */
import { ScanError, ScanErrorCode } from './errors.js'

export const BLAKE3_DIGEST_LENGTH = 32

export type Blake3ImplementationName = '@napi-rs/blake-hash' | 'hash-wasm'

export interface Blake3Implementation {
  readonly name: Blake3ImplementationName
  /** Returns a fresh 32-byte digest; `data` is only read. */
  hash(data: Uint8Array): Uint8Array
}

/** Which implementation to use: the first that works, or exactly one (tests, benchmarks). */
export type Blake3Preference = 'auto' | 'native' | 'wasm'

export const BLAKE3_PREFERENCES: readonly Blake3Preference[] = ['auto', 'native', 'wasm']

export type Blake3Loader = () => Promise<Blake3Implementation>

/**
 * Known answers checked before a candidate is chosen: BLAKE3("abc") from the BLAKE3 paper, and the
 * official test vector of 1025 bytes (byte i = i % 251), which spans two 1 KiB chunks and so checks
 * the tree mode too.
 */
const KNOWN_ANSWERS: ReadonlyArray<{ input: Uint8Array; hex: string }> = [
  {
    input: new TextEncoder().encode('abc'),
    hex: '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85',
  },
  {
    input: Uint8Array.from({ length: 1025 }, (_, i) => i % 251),
    hex: 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444',
  },
]

export async function loadNativeBlake3(): Promise<Blake3Implementation> {
  const native = await import('@napi-rs/blake-hash')
  const hash = native.blake3
  if (typeof hash !== 'function') throw new TypeError('@napi-rs/blake-hash exports no blake3 function')
  return { name: '@napi-rs/blake-hash', hash }
}

export async function loadWasmBlake3(): Promise<Blake3Implementation> {
  const { createBLAKE3 } = await import('hash-wasm')
  // One hasher per thread, re-initialised per block: creating one compiles and instantiates WASM.
  const hasher = await createBLAKE3()
  return {
    name: 'hash-wasm',
    hash: (data) => hasher.init().update(data).digest('binary'),
  }
}

export const BLAKE3_LOADERS: Readonly<Record<Exclude<Blake3Preference, 'auto'>, Blake3Loader>> = {
  native: loadNativeBlake3,
  wasm: loadWasmBlake3,
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Throws unless `impl` gives the known answers. */
export function checkBlake3(impl: Blake3Implementation): void {
  for (const { input, hex } of KNOWN_ANSWERS) {
    const got = impl.hash(input)
    if (got.byteLength !== BLAKE3_DIGEST_LENGTH || toHex(got) !== hex) {
      throw new Error(
        `${impl.name} gives ${toHex(got)} for a ${input.byteLength}-byte known input, not ${hex}`,
      )
    }
  }
}

/**
 * Returns the first candidate that loads and passes `checkBlake3`. Each failure is kept and reported
 * when none is left, so the operator sees why the native binding was passed over.
 */
export async function selectBlake3(candidates: readonly Blake3Loader[]): Promise<Blake3Implementation> {
  const failures: string[] = []
  for (const load of candidates) {
    try {
      const impl = await load()
      checkBlake3(impl)
      return impl
    } catch (cause) {
      failures.push(cause instanceof Error ? cause.message : String(cause))
    }
  }
  throw new ScanError(
    ScanErrorCode.BLAKE3_UNAVAILABLE,
    `no BLAKE3 implementation works: ${failures.join('; ')}`,
    {
      remediation: 'Reinstall Lifeboat so that @napi-rs/blake-hash (or hash-wasm) matches this platform.',
    },
  )
}

export function blake3Candidates(preference: Blake3Preference): Blake3Loader[] {
  if (preference === 'native') return [BLAKE3_LOADERS.native]
  if (preference === 'wasm') return [BLAKE3_LOADERS.wasm]
  return [BLAKE3_LOADERS.native, BLAKE3_LOADERS.wasm]
}

const BLAKE3_NAMES: Readonly<Record<Exclude<Blake3Preference, 'auto'>, Blake3ImplementationName>> = {
  native: '@napi-rs/blake-hash',
  wasm: 'hash-wasm',
}

let chosen: Blake3Implementation | undefined
let loading: Promise<Blake3Implementation> | undefined

/**
 * Chooses this thread's implementation once; later calls return the same one. A different explicit
 * preference after a choice is refused rather than silently ignored.
 */
export async function loadBlake3(preference: Blake3Preference = 'auto'): Promise<Blake3Implementation> {
  if (loading !== undefined) {
    const current = await loading
    // Compared by name: 'auto' may already have chosen what the caller asks for.
    if (preference !== 'auto' && current.name !== BLAKE3_NAMES[preference]) {
      throw new ScanError(
        ScanErrorCode.BLAKE3_UNAVAILABLE,
        `this thread already uses ${current.name}; ${BLAKE3_NAMES[preference]} was asked for`,
        { remediation: 'Choose the BLAKE3 implementation once per thread, before the first hash.' },
      )
    }
    return current
  }
  loading = selectBlake3(blake3Candidates(preference)).then(
    (impl) => {
      chosen = impl
      return impl
    },
    (error: unknown) => {
      // A failed choice may be retried (e.g. with another preference).
      loading = undefined
      throw error
    },
  )
  return loading
}

/** The name of this thread's implementation, or undefined before `loadBlake3()` resolved. */
export function blake3ImplementationName(): Blake3ImplementationName | undefined {
  return chosen?.name
}

/** BLAKE3-256 of `data` with this thread's implementation; `loadBlake3()` must have resolved. */
export function blake3(data: Uint8Array): Uint8Array {
  if (chosen === undefined) {
    throw new ScanError(
      ScanErrorCode.BLAKE3_UNAVAILABLE,
      'blake3() was called before loadBlake3() resolved',
      {
        remediation: 'This is a bug in Lifeboat: await loadBlake3() once before hashing.',
      },
    )
  }
  return chosen.hash(data)
}

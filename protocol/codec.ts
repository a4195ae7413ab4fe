/**
 * msgpack encoding and decoding of message envelopes, shared by both message families. An
 * *envelope* is the map every message is: `t` plus the message's fields (docs/PROTOCOL.md §3).
 *
 * msgpackr settings, chosen for safety first, then speed:
 * - `useRecords: false`, `mapsAsObjects: true`: plain msgpack maps in both directions, readable by
 *   any msgpack library; records would make the format msgpackr-only for a few bytes per frame.
 * - `variableMapSize: true`: small maps as fixmap (one header byte), the standard's preferred form.
 * - `skipValues: [undefined]`: an optional field set to `undefined` is left out, never sent as
 *   msgpackr's "undefined" extension.
 * - `moreTypes: false`, `structuredClone: false`, `bundleStrings: false`: nothing but standard types.
 * - `int64AsType: 'auto'`: a uint 64 from another encoder decodes as a number when it is exact, and
 *   as a BigInt (which every schema refuses) when it is not.
 * - Binary fields decode as plain Uint8Array views into the frame (no copy; keeping one keeps the
 *   frame alive). msgpackr returns `source.subarray()`, so the body is handed over as a plain
 *   Uint8Array: a Buffer would make every field a Buffer, whose `slice()` shares memory where a
 *   Uint8Array's copies.
 *
 * Before msgpackr sees a body, checkBodyStructure() refuses ext types and deep nesting, so what
 * msgpackr returns is always built from plain values.
 */
import { type Options, Packr, RESERVE_START_SPACE } from 'msgpackr'
import { FRAME_HEADER_SIZE } from './limits.js'
import { checkBodyStructure } from './msgpack-subset.js'
import { FrameTooLargeError, MalformedMessageError } from './protocol-errors.js'

/** A decoded envelope before validation: `t` and fields of unknown shape. */
export type Envelope = Record<string, unknown>

const packrOptions = {
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  skipValues: [undefined],
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  int64AsType: 'auto',
}

// msgpackr's typings lack `skipValues` and the 'auto' int64 mode, both documented and supported.
const packr = new Packr(packrOptions as unknown as Options)

/** The msgpack body of a message (no length prefix). The value must already be validated. */
export function packBody(value: object): Uint8Array {
  return packr.pack(value)
}

/**
 * A complete frame: the length prefix then the body, in one buffer. msgpackr reserves the prefix's
 * 4 bytes in front of the body as it packs, so a 16 MiB batch is not copied a second time to put
 * its prefix in front. Throws FrameTooLargeError when the body exceeds `maxFrameSize`.
 */
export function packFrame(value: object, maxFrameSize: number): Uint8Array {
  const frame = packr.pack(value, RESERVE_START_SPACE | FRAME_HEADER_SIZE)
  const bodyLength = frame.length - FRAME_HEADER_SIZE
  if (bodyLength > maxFrameSize) throw new FrameTooLargeError(bodyLength, maxFrameSize)
  new DataView(frame.buffer, frame.byteOffset, FRAME_HEADER_SIZE).setUint32(0, bodyLength)
  return frame
}

/** Decodes one body into an envelope. Throws MalformedMessageError and nothing else. */
export function unpackEnvelope(body: Uint8Array): Envelope {
  if (!(body instanceof Uint8Array)) throw new MalformedMessageError('a frame body must be a Uint8Array')
  checkBodyStructure(body)
  // A fresh plain view: fields come out as Uint8Array, and msgpackr's cached DataView lands on it
  // rather than on the caller's array.
  const source = new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  let value: unknown
  try {
    value = packr.unpack(source)
  } catch (error) {
    // Not expected after the structure check; kept so a msgpackr surprise stays a ProtocolError.
    throw new MalformedMessageError(error instanceof Error ? error.message : String(error), error)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new MalformedMessageError(`the body is ${describe(value)}, not a map`)
  }
  return value as Envelope
}

function describe(value: unknown): string {
  if (value === null) return 'nil'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Uint8Array) return 'a binary'
  return `a ${typeof value}`
}

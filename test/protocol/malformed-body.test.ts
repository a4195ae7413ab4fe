import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import {
  decodeControlMessage,
  decodeDataMessage,
  MAX_NESTING_DEPTH,
  MalformedMessageError,
  ProtocolError,
  ProtocolErrorCode,
} from '../../protocol/index.js'

// A permissive encoder, to build bodies our encoder would never produce.
const loose = new Packr({ useRecords: false, moreTypes: true })
const bytes = (...values: number[]) => new Uint8Array(values)
const fixstr = (s: string) => [0xa0 | s.length, ...Buffer.from(s)]

function decodeError(
  body: Uint8Array,
  decode: (body: Uint8Array) => unknown = decodeControlMessage,
): ProtocolError {
  try {
    decode(body)
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError)
    return error as ProtocolError
  }
  throw new Error('expected decode to throw')
}

function expectMalformed(body: Uint8Array, detail: RegExp): void {
  for (const decode of [decodeControlMessage, decodeDataMessage]) {
    const error = decodeError(body, decode)
    expect(error).toBeInstanceOf(MalformedMessageError)
    expect(error.code).toBe(ProtocolErrorCode.MALFORMED)
    expect(error.fatal).toBe(false)
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(detail)
    expect(error.remediation).not.toBe('')
  }
}

describe('a body that is not one map of the allowed msgpack subset is PROTOCOL_MALFORMED, and not fatal', () => {
  it('an empty body', () => expectMalformed(bytes(), /empty/))

  it('a truncated value', () => {
    expectMalformed(bytes(0x82, ...fixstr('t'), 0x01), /truncated/)
    expectMalformed(bytes(0xdb, 0xff, 0xff, 0xff, 0xff), /truncated/)
    expectMalformed(bytes(0xc6, 0x00, 0x00, 0x10, 0x00, 0x01), /truncated/)
    expectMalformed(bytes(0xcb, 0x00), /truncated/)
  })

  it('a container declaring more entries than bytes remain, without walking them', () => {
    expectMalformed(bytes(0xdd, 0xff, 0xff, 0xff, 0xff), /truncated/)
    expectMalformed(bytes(0xdf, 0x7f, 0xff, 0xff, 0xff, ...fixstr('t'), 0x01), /truncated/)
  })

  it('trailing bytes after the message', () =>
    expectMalformed(bytes(0x81, ...fixstr('t'), 0x01, 0xc0), /after the end/))

  it('two messages in one body', () => {
    const one = loose.pack({ t: 1 })
    expectMalformed(new Uint8Array([...one, ...one]), /after the end/)
  })

  it('ext types: a timestamp, msgpackr records, typed arrays, BigInt, Error, RegExp', () => {
    expectMalformed(loose.pack({ t: 18, at: new Date(0) }), /ext type/)
    expectMalformed(new Packr({ useRecords: true }).pack({ t: 1, a: [{ x: 1 }, { x: 2 }] }), /ext type/)
    expectMalformed(loose.pack({ t: 66, digests: new Float64Array(4) }), /ext type/)
    expectMalformed(loose.pack({ t: 18, at: 2n ** 70n }), /ext type/)
    expectMalformed(loose.pack({ t: 2, code: new Error('x') }), /ext type/)
    expectMalformed(loose.pack({ t: 2, code: /x/ }), /ext type/)
    expectMalformed(bytes(0x81, ...fixstr('t'), 0xd4, 0x00, 0x00), /ext type/)
    expectMalformed(bytes(0x81, ...fixstr('t'), 0xc9, 0x00, 0x00, 0x00, 0x01, 0x05, 0x00), /ext type/)
  })

  it('the never-used byte 0xc1', () => expectMalformed(bytes(0x81, ...fixstr('t'), 0xc1), /0xc1/))

  it('a map key that is not a string', () => {
    expectMalformed(bytes(0x81, 0x01, 0x01), /not a string/)
    expectMalformed(bytes(0x81, 0x90, 0x01), /not a string/)
    expectMalformed(bytes(0x81, 0xc4, 0x01, 0x74, 0x01), /not a string/)
  })

  it(`nesting deeper than ${MAX_NESTING_DEPTH} levels, without recursion (a million levels)`, () => {
    let ok: unknown = 1
    for (let i = 1; i < MAX_NESTING_DEPTH; i++) ok = [ok]
    expect(() => decodeControlMessage(loose.pack({ t: 1, x: ok }))).not.toThrow(MalformedMessageError)
    expectMalformed(loose.pack({ t: 1, x: [ok] }), /nested deeper/)
    expectMalformed(new Uint8Array(1_000_000).fill(0x91), /nested deeper/)
  })

  it('a body that is not a map', () => {
    expectMalformed(loose.pack([1, 2]), /an array, not a map/)
    expectMalformed(loose.pack(7), /a number, not a map/)
    expectMalformed(loose.pack('hello'), /a string, not a map/)
    expectMalformed(loose.pack(null), /nil, not a map/)
    expectMalformed(bytes(0xc4, 0x03, 0x00, 0x00, 0x00), /a binary, not a map/)
    expectMalformed(loose.pack(true), /a boolean, not a map/)
  })

  it('something that is not bytes at all', () => {
    expectMalformed('not bytes' as unknown as Uint8Array, /Uint8Array/)
  })
})

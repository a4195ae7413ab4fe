import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import {
  BLOCKS_PROTOCOL_ID,
  BLOCKS_PROTOCOL_VERSION,
  CONTROL_PROTOCOL_ID,
  CONTROL_PROTOCOL_VERSION,
  checkHello,
  decodeControlMessage,
  decodeDataMessage,
  type ErrorMessage,
  expectHello,
  formatVersion,
  type Hello,
  HelloExpectedError,
  MessageType,
  ProtocolError,
  ProtocolErrorCode,
  RemoteError,
  UnexpectedRoleError,
  VersionMismatchError,
} from '../../protocol/index.js'
import { examples } from './message-examples.js'

const loose = new Packr({ useRecords: false, variableMapSize: true })
const hello = examples.find((e) => e.name === 'hello')!.message as Hello
const withVersion = (major: number, minor: number): Hello => ({ ...hello, protocol: { major, minor } })

function thrown(fn: () => unknown): ProtocolError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError)
    return error as ProtocolError
  }
  throw new Error('expected an error')
}

describe('protocol IDs', () => {
  it('name the major version only, and match the versions spoken', () => {
    expect(CONTROL_PROTOCOL_ID).toBe(`/lifeboat/control/${CONTROL_PROTOCOL_VERSION.major}.0.0`)
    expect(BLOCKS_PROTOCOL_ID).toBe(`/lifeboat/blocks/${BLOCKS_PROTOCOL_VERSION.major}.0.0`)
    expect(formatVersion(CONTROL_PROTOCOL_VERSION)).toBe('1.1')
  })
})

describe('checkHello', () => {
  it('negotiates the common major and the lower minor', () => {
    expect(checkHello(withVersion(1, 0), { major: 1, minor: 0 })).toEqual({ major: 1, minor: 0 })
    expect(checkHello(withVersion(1, 4), { major: 1, minor: 2 })).toEqual({ major: 1, minor: 2 })
    expect(checkHello(withVersion(1, 1), { major: 1, minor: 3 })).toEqual({ major: 1, minor: 1 })
  })

  it('refuses another major with a fatal error naming both versions', () => {
    for (const [peer, ours] of [
      [withVersion(2, 1), { major: 1, minor: 0 }],
      [withVersion(1, 7), { major: 2, minor: 0 }],
    ] as const) {
      const error = thrown(() => checkHello(peer, ours))
      expect(error).toBeInstanceOf(VersionMismatchError)
      expect(error.code).toBe(ProtocolErrorCode.VERSION_MISMATCH)
      expect(error.fatal).toBe(true)
      expect(error.retryable).toBe(false)
      expect(error.message).toContain(formatVersion(peer.protocol))
      expect(error.message).toContain(formatVersion(ours))
      expect(error.remediation).toMatch(/Upgrade/)
    }
  })

  it('refuses a role not allowed on the stream', () => {
    const error = thrown(() => checkHello(hello, CONTROL_PROTOCOL_VERSION, { roles: ['coordinator'] }))
    expect(error).toBeInstanceOf(UnexpectedRoleError)
    expect(error).toMatchObject({ code: ProtocolErrorCode.UNEXPECTED_ROLE, fatal: true })
    expect(error.message).toMatch(/appliance .* coordinator/)
    expect(checkHello(hello, CONTROL_PROTOCOL_VERSION, { roles: ['appliance', 'connector'] })).toEqual({
      major: 1,
      minor: 0,
    })
  })
})

describe('decoding a hello of another major', () => {
  it('reports the version mismatch even when the rest of that hello has other fields', () => {
    const future = {
      t: MessageType.HELLO,
      protocol: { major: 2, minor: 5 },
      peer: { id: 'x' },
      caps: ['zstd'],
    }
    for (const [decode, spoken] of [
      [decodeControlMessage, '1.1'],
      [decodeDataMessage, '1.0'],
    ] as const) {
      const error = thrown(() => decode(loose.pack(future)))
      expect(error).toBeInstanceOf(VersionMismatchError)
      expect(error.message).toBe(`peer speaks protocol 2.5, this side speaks ${spoken}`)
    }
  })

  it('validates a hello whose version is unreadable as an invalid hello', () => {
    const error = thrown(() => decodeControlMessage(loose.pack({ ...hello, protocol: 'v2' })))
    expect(error.code).toBe(ProtocolErrorCode.INVALID_MESSAGE)
  })

  it('accepts a hello of a higher minor with fields it does not know', () => {
    const newer = { ...hello, protocol: { major: 1, minor: 9 }, resumeToken: 'abc' }
    const decoded = decodeControlMessage(loose.pack(newer))
    expect(checkHello(expectHello(decoded), CONTROL_PROTOCOL_VERSION)).toEqual({ major: 1, minor: 1 })
  })
})

describe('expectHello', () => {
  it('passes a hello through', () => {
    expect(expectHello(hello)).toBe(hello)
  })

  it('turns an ERROR first frame into the peer’s error', () => {
    const refusal = examples.find((e) => e.name === 'error')!.message as ErrorMessage
    let error: unknown
    try {
      expectHello(refusal)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).toMatchObject({
      code: refusal.code,
      message: refusal.message,
      remediation: refusal.remediation,
    })
  })

  it('refuses any other first frame with a fatal PROTOCOL_HELLO_EXPECTED', () => {
    const error = thrown(() => expectHello({ t: MessageType.HEARTBEAT }))
    expect(error).toBeInstanceOf(HelloExpectedError)
    expect(error).toMatchObject({
      code: ProtocolErrorCode.HELLO_EXPECTED,
      fatal: true,
      reType: MessageType.HEARTBEAT,
    })
    expect(error.message).toMatch(/heartbeat/)
  })
})

import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import {
  type ControlMessage,
  decodeControlMessage,
  decodeDataMessage,
  encodeControlMessage,
  encodeDataMessage,
  FrameTooLargeError,
  InvalidMessageError,
  MAX_BATCH_PAYLOAD_BYTES,
  MAX_REPLAY_ITEMS,
  MAX_TEXT_LENGTH,
  MessageType,
  ProtocolError,
  ProtocolErrorCode,
  UnexpectedMessageError,
  UnknownMessageTypeError,
  validateControlMessage,
  validateDataMessage,
} from '../../protocol/index.js'
import { examples } from './message-examples.js'

// Encodes anything, valid or not, the way a buggy or hostile peer might.
const loose = new Packr({ useRecords: false, variableMapSize: true })
type Fields = Record<string, unknown>

const example = (name: string): Fields =>
  structuredClone(examples.find((e) => e.name === name)!.message) as Fields
const familyOf = (name: string) => examples.find((e) => e.name === name)!.family

function decodeError(value: unknown, family: 'control' | 'blocks'): ProtocolError {
  const decode = family === 'control' ? decodeControlMessage : decodeDataMessage
  try {
    decode(loose.pack(value))
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError)
    return error as ProtocolError
  }
  throw new Error(`expected ${JSON.stringify(value)} to be refused`)
}

/** The example `name` with `change` applied is refused as invalid, pointing at `path`. */
function expectInvalid(
  name: string,
  change: (m: Fields) => void,
  path: string,
  detail?: RegExp,
): InvalidMessageError {
  const message = example(name)
  change(message)
  const error = decodeError(message, familyOf(name))
  expect(error).toBeInstanceOf(InvalidMessageError)
  expect(error.code).toBe(ProtocolErrorCode.INVALID_MESSAGE)
  expect(error.fatal).toBe(false)
  expect((error as InvalidMessageError).path).toBe(path)
  if (detail !== undefined) expect(error.message).toMatch(detail)
  return error as InvalidMessageError
}

const records = (m: Fields) => m.records as Fields[]

describe('message types', () => {
  it('a missing, non-numeric or unknown t is PROTOCOL_UNKNOWN_TYPE', () => {
    for (const value of [{ rid: 1 }, { t: 'hello' }, { t: 99 }, { t: 1.5 }, { t: -1 }]) {
      for (const family of ['control', 'blocks'] as const) {
        const error = decodeError(value, family)
        expect(error).toBeInstanceOf(UnknownMessageTypeError)
        expect(error.code).toBe(ProtocolErrorCode.UNKNOWN_TYPE)
        expect(error.fatal).toBe(false)
      }
    }
  })

  it('a type of the other protocol is PROTOCOL_UNEXPECTED_MESSAGE, naming it', () => {
    const onControl = decodeError(example('block-batch'), 'control')
    expect(onControl).toBeInstanceOf(UnexpectedMessageError)
    expect(onControl.code).toBe(ProtocolErrorCode.UNEXPECTED_MESSAGE)
    expect(onControl.message).toMatch(/block-batch .* control stream/)
    const onBlocks = decodeError(example('job-offer-maintenance'), 'blocks')
    expect(onBlocks.code).toBe(ProtocolErrorCode.UNEXPECTED_MESSAGE)
    expect(onBlocks.message).toMatch(/job-offer/)
  })

  it('HELLO and ERROR decode on both protocols', () => {
    for (const name of ['hello', 'error']) {
      const body = loose.pack(example(name))
      expect(decodeControlMessage(body).t).toBe(decodeDataMessage(body).t)
    }
  })
})

describe('wrong field types and bounds are PROTOCOL_INVALID_MESSAGE with the field path', () => {
  it('common fields', () => {
    expectInvalid('hello', (m) => (m.nodeId = 'not/a/peer'), '/nodeId')
    expectInvalid('hello', (m) => (m.role = 'admin'), '/role')
    expectInvalid('hello', (m) => (m.software = ''), '/software')
    expectInvalid('hello', (m) => ((m.protocol as Fields).minor = -1), '/protocol/minor')
    expectInvalid('hello', (m) => delete m.protocol, '/protocol')
    expectInvalid('hello', (m) => (m.site = '../etc'), '/site')
    expectInvalid('error', (m) => (m.code = 'lease lost'), '/code')
    expectInvalid('error', (m) => (m.message = 'x'.repeat(MAX_TEXT_LENGTH + 1)), '/message')
    expectInvalid('error', (m) => (m.retryable = 'no'), '/retryable')
    expectInvalid('error', (m) => (m.reType = 256), '/reType')
  })

  it('integers: negative, fractional, NaN, beyond 2^53 (as a uint 64), or strings', () => {
    expectInvalid('progress', (m) => (m.seq = 0), '/seq')
    expectInvalid('progress', (m) => (m.seq = 1.5), '/seq')
    expectInvalid('progress', (m) => (m.at = -1), '/at')
    expectInvalid('progress', (m) => (m.bytesDone = '5'), '/bytesDone')
    expectInvalid('progress', (m) => (m.bytesDone = 2n ** 60n), '/bytesDone')
    expectInvalid('progress', (m) => (m.percent = 100.5), '/percent')
    expectInvalid('heartbeat', (m) => ((m.load as Fields).cpu = Number.NaN), '/load/cpu')
    expectInvalid('heartbeat', (m) => ((m.load as Fields).cpu = 1.5), '/load/cpu')
    expectInvalid('heartbeat', (m) => (m.intervalMs = 0), '/intervalMs')
    expectInvalid('status-ack', (m) => (m.seq = -1), '/seq')
  })

  it('enrolment', () => {
    expectInvalid('enrol', (m) => (m.token = 'short'), '/token')
    expectInvalid('enrol', (m) => (m.token = 'has spaces in the token'), '/token')
    expectInvalid('enrol-accepted', (m) => ((m.node as Fields).role = 'coordinator'), '/node/role')
  })

  it('job offers, their payloads and acks', () => {
    expectInvalid('job-offer-maintenance', (m) => (m.jobType = 'backup'), '/jobType')
    expectInvalid('job-offer-maintenance', (m) => (m.jobId = '../../etc/passwd'), '/jobId')
    expectInvalid('job-offer-maintenance', (m) => (m.fencingToken = 0), '/fencingToken')
    expectInvalid('job-offer-maintenance', (m) => (m.ackDeadlineMs = 999), '/ackDeadlineMs')
    expectInvalid('job-offer-maintenance', (m) => (m.leaseTtlMs = 3_600_001), '/leaseTtlMs')
    expectInvalid('job-offer-maintenance', (m) => (m.attempt = 0), '/attempt')
    expectInvalid('job-offer-maintenance', (m) => ((m.payload as Fields).task = 'reboot'), '/payload/task')
    expectInvalid(
      'job-offer-maintenance',
      (m) => ((m.payload as Fields).params = { 'bad key': 1 }),
      '/payload/params/bad key',
    )
    expectInvalid(
      'job-offer-maintenance',
      (m) =>
        ((m.payload as Fields).params = Object.fromEntries(
          Array.from({ length: 65 }, (_, i) => [`k${i}`, i]),
        )),
      '/payload/params',
    )
    // A payload that fits another job type is still refused for this one.
    expectInvalid(
      'job-offer-replication-cycle',
      (m) => (m.payload = example('job-offer-maintenance').payload),
      '/payload/planId',
    )
    expectInvalid(
      'job-offer-replication-cycle',
      (m) => (((m.payload as Fields).volumes as Fields[])[1].blockSize = 12_288),
      '/payload/volumes/1/blockSize',
      /power of two/,
    )
    expectInvalid(
      'job-offer-replication-cycle',
      (m) => (((m.payload as Fields).volumes as Fields[])[1].volumeId = 'disk-0'),
      '/payload/volumes/1/volumeId',
      /twice/,
    )
    expectInvalid(
      'job-offer-replication-cycle',
      (m) => ((m.payload as Fields).volumes = []),
      '/payload/volumes',
    )
    expectInvalid('job-offer-consistency-check', (m) => ((m.payload as Fields).sample = 0), '/payload/sample')
    expectInvalid('job-offer-failover-step', (m) => ((m.payload as Fields).step = 'reboot'), '/payload/step')
    expectInvalid('job-ack-declined', (m) => delete m.reason, '/reason', /required when accepted is false/)
    expectInvalid(
      'job-ack-accepted',
      (m) => (m.reason = example('job-ack-declined').reason),
      '/reason',
      /absent/,
    )
  })

  it('status updates and their replay', () => {
    expectInvalid('progress', (m) => (m.bytesTotal = 1), '/bytesTotal', /smaller than bytesDone/)
    expectInvalid('progress', (m) => (m.step = ''), '/step')
    expectInvalid('result-failure', (m) => delete m.error, '/error', /required when ok is false/)
    expectInvalid('result-success', (m) => (m.error = example('job-handback').reason), '/error', /absent/)
    expectInvalid('result-success', (m) => ((m.summary as Fields).nested = { a: 1 }), '/summary/nested')
    expectInvalid('log-entry', (m) => (m.level = 'trace'), '/level')
    expectInvalid('job-handback', (m) => delete m.reason, '/reason')
    expectInvalid('status-replay', (m) => (m.items = []), '/items')
    expectInvalid(
      'status-replay',
      (m) => (m.items = Array.from({ length: MAX_REPLAY_ITEMS + 1 }, () => ({ t: 23 }))),
      '/items',
    )
    expectInvalid(
      'status-replay',
      (m) => ((m.items as Fields[])[0] = example('heartbeat')),
      '/items/0/t',
      /not a status update/,
    )
    expectInvalid('status-replay', (m) => ((m.items as Fields[])[1].level = 'loud'), '/items/1/level')
    expectInvalid('status-replay', (m) => ((m.items as Fields[])[1].seq = 41), '/items/1/seq', /not greater/)
  })

  it('volumes and hash queries', () => {
    expectInvalid('open-volume', (m) => (m.blockCount = 5), '/blockCount', /⌈volumeSize \/ blockSize⌉ is 4/)
    expectInvalid('open-volume', (m) => (m.blockSize = 2048), '/blockSize')
    expectInvalid(
      'open-volume',
      (m) => Object.assign(m, { blockSize: 12_288, blockCount: 2 }),
      '/blockSize',
      /power of two/,
    )
    expectInvalid('open-volume', (m) => (m.volumeSize = 2 ** 46 + 1), '/volumeSize')
    expectInvalid(
      'have-query',
      (m) => (m.digests = new Uint8Array(33)),
      '/digests',
      /whole number of digests/,
    )
    expectInvalid('have-query', (m) => (m.digests = new Uint8Array(0)), '/digests')
    expectInvalid('have-query', (m) => (m.digests = 'abcd'), '/digests')
    expectInvalid('have-answer', (m) => (m.held = new Uint8Array(2)), '/held', /3 bits need 1/)
    expectInvalid('have-answer', (m) => (m.held = new Uint8Array([0b1000])), '/held', /past count/)
    expectInvalid('have-answer', (m) => (m.count = 0), '/count')
  })

  it('block batches and their records', () => {
    expectInvalid('block-batch', (m) => (m.records = []), '/records')
    expectInvalid('block-batch', (m) => (m.seq = 0), '/seq')
    expectInvalid('block-batch', (m) => (records(m)[0].digest = new Uint8Array(31)), '/records/0/digest')
    expectInvalid('block-batch', (m) => (records(m)[0].payload = [1, 2, 3]), '/records/0/payload')
    expectInvalid(
      'block-batch',
      (m) => (records(m)[0].flags = 0x04),
      '/records/0/flags',
      /unknown flag bits 0x4/,
    )
    expectInvalid('block-batch', (m) => (records(m)[0].flags = 0x100), '/records/0/flags')
    expectInvalid('block-batch', (m) => (records(m)[3].flags = 0x03), '/records/3/flags', /at most one/)
    expectInvalid(
      'block-batch',
      (m) => (records(m)[1].payload = new Uint8Array(1)),
      '/records/1/payload',
      /empty/,
    )
    expectInvalid(
      'block-batch',
      (m) => (records(m)[2].payload = new Uint8Array(1)),
      '/records/2/payload',
      /empty/,
    )
    expectInvalid(
      'block-batch',
      (m) => (records(m)[1].digest = new Uint8Array(32).fill(1)),
      '/records/1/digest',
      /zero/,
    )
    expectInvalid(
      'block-batch',
      (m) => (records(m)[3].payload = new Uint8Array(0)),
      '/records/3/payload',
      /RAW/,
    )
    expectInvalid(
      'block-batch',
      (m) => (records(m)[0].payload = new Uint8Array(4)),
      '/records/0/payload',
      /LZ4/,
    )
    expectInvalid(
      'block-batch',
      (m) => (records(m)[0].payload = new Uint8Array([0, 0, 0, 0, 9])),
      '/records/0/payload',
      /declares 0/,
    )
    expectInvalid(
      'block-batch',
      (m) => (records(m)[0].payload = new Uint8Array([1, 0, 0, 1, 9])),
      '/records/0/payload',
      /declares 16777217/,
    )
    expectInvalid('block-batch', (m) => (records(m)[2].index = 1), '/records/2/index', /not greater/)
    expectInvalid(
      'block-batch',
      (m) =>
        (m.records = [MAX_BATCH_PAYLOAD_BYTES / 2, MAX_BATCH_PAYLOAD_BYTES / 2, 1].map((length, index) => ({
          index,
          digest: new Uint8Array(32),
          flags: 0x02,
          payload: new Uint8Array(length),
        }))),
      '/records',
      /payload bytes exceed/,
    )
    expectInvalid('commit', (m) => ((m.summary as Fields).lastSeq = 0), '/summary/lastSeq')
    expectInvalid(
      'commit',
      (m) => ((m.summary as Fields).mapDigest = new Uint8Array(16)),
      '/summary/mapDigest',
    )
    expectInvalid('abort', (m) => delete m.reason, '/reason')
  })
})

describe('refusals name the frame they answer', () => {
  it('by t and rid, or by t and seq for status updates and batches, read before validation', () => {
    const renewal = decodeError({ ...example('lease-renewal'), fencingToken: 'x' }, 'control')
    expect(renewal).toMatchObject({ reType: MessageType.LEASE_RENEWAL, reId: 7 })
    const progress = decodeError({ ...example('progress'), percent: 'x' }, 'control')
    expect(progress).toMatchObject({ reType: MessageType.PROGRESS, reId: 41 })
    const batch = decodeError({ ...example('block-batch'), seq: 3, records: 'x' }, 'blocks')
    expect(batch).toMatchObject({ reType: MessageType.BLOCK_BATCH, reId: 3 })
    const unknown = decodeError({ t: 99, rid: 5 }, 'control')
    expect(unknown).toMatchObject({ reType: 99, reId: 5 })
    const nothing = decodeError({ t: 'x', rid: -2 }, 'control')
    expect(nothing.reType).toBeUndefined()
    expect(nothing.reId).toBeUndefined()
  })
})

describe('forward compatibility', () => {
  it('fields this version does not know are ignored, whatever their value', () => {
    const hello = {
      ...example('hello'),
      protocol: { major: 1, minor: 3 },
      features: { resume: [1, 2] },
      extra: null,
    }
    expect(decodeControlMessage(loose.pack(hello)).t).toBe(MessageType.HELLO)
    const batch = example('block-batch')
    records(batch)[0].checksum = 7
    expect(decodeDataMessage(loose.pack(batch)).t).toBe(MessageType.BLOCK_BATCH)
  })
})

describe('encoders refuse what a receiver would', () => {
  it('an invalid message is never encoded', () => {
    const offer = { ...example('job-offer-maintenance'), attempt: 0 }
    expect(() => encodeControlMessage(offer as ControlMessage)).toThrow(InvalidMessageError)
    expect(() => encodeDataMessage({ t: MessageType.JOB_ACK } as never)).toThrow(UnexpectedMessageError)
    expect(() => validateControlMessage(null)).toThrow(ProtocolError)
    expect(() => validateDataMessage([])).toThrow(ProtocolError)
  })

  it('a control message above 1 MiB is refused as too large, not cut', () => {
    const item = (seq: number) => ({ ...example('log-entry'), seq, message: '€'.repeat(MAX_TEXT_LENGTH) })
    const replay = {
      t: MessageType.STATUS_REPLAY,
      rid: 1,
      items: Array.from({ length: 100 }, (_, i) => item(i + 1)),
    }
    expect(() => encodeControlMessage(replay as ControlMessage)).toThrow(FrameTooLargeError)
  })
})

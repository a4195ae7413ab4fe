import { describe, expect, it } from 'vitest'
import {
  type ControlMessage,
  controlCodec,
  type DataMessage,
  dataCodec,
  decodeControlMessage,
  decodeDataMessage,
  encodeControlFrame,
  encodeControlMessage,
  encodeDataFrame,
  encodeDataMessage,
  FRAME_HEADER_SIZE,
  type MessageCodec,
  MessageType,
} from '../../protocol/index.js'
import { examples } from './message-examples.js'

const codecOf = (family: string) =>
  (family === 'control' ? controlCodec : dataCodec) as MessageCodec<ControlMessage | DataMessage>

describe('every message survives encode → decode unchanged', () => {
  for (const { name, family, message } of examples) {
    it(`${family} ${name}`, () => {
      const codec = codecOf(family)
      const body = codec.encode(message)
      expect(codec.decode(body)).toEqual(message)

      const frame = codec.encodeFrame(message)
      expect(new DataView(frame.buffer, frame.byteOffset).getUint32(0)).toBe(body.length)
      expect(Buffer.from(frame.subarray(FRAME_HEADER_SIZE))).toEqual(Buffer.from(body))
      const decoder = codec.createFrameDecoder()
      const bodies = [...decoder.decode(frame)]
      expect(bodies).toHaveLength(1)
      expect(codec.decode(bodies[0])).toEqual(message)
    })
  }

  it('covers every message type of both families', () => {
    const covered = new Set(examples.map((e) => e.message.t))
    for (const t of Object.values(MessageType)) expect(covered.has(t), `type ${t} has an example`).toBe(true)
  })

  it('the named functions are the codecs', () => {
    const hello = examples.find((e) => e.name === 'hello')!.message as ControlMessage
    expect(decodeControlMessage(encodeControlMessage(hello))).toEqual(hello)
    expect(encodeControlFrame(hello).length).toBe(encodeControlMessage(hello).length + FRAME_HEADER_SIZE)
    const batch = examples.find((e) => e.name === 'block-batch')!.message as DataMessage
    expect(decodeDataMessage(encodeDataMessage(batch))).toEqual(batch)
    expect(encodeDataFrame(batch).length).toBe(encodeDataMessage(batch).length + FRAME_HEADER_SIZE)
  })

  it('leaves out optional fields set to undefined instead of sending them', () => {
    const ack = {
      t: MessageType.JOB_ACK,
      rid: 1,
      jobId: 'j',
      leaseId: 'l',
      accepted: true,
      reason: undefined,
    }
    const decoded = decodeControlMessage(encodeControlMessage(ack as ControlMessage))
    expect(Object.keys(decoded)).not.toContain('reason')
  })

  it('decodes binary fields as views into the frame, without copying', () => {
    const batch = examples.find((e) => e.name === 'block-batch')!.message
    const body = encodeDataMessage(batch as DataMessage)
    const decoded = decodeDataMessage(body)
    if (decoded.t !== MessageType.BLOCK_BATCH) throw new Error('not a batch')
    expect(decoded.records[0].payload.buffer).toBe(body.buffer)
  })
})

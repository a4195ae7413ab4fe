/**
 * Golden fixtures: every v1 message, encoded once and kept forever in test/fixtures/protocol/v1/.
 * `<name>.bin` is a complete frame (length prefix and body); `<name>.json` is
 * `{ protocol, message }` with binary fields as `{ "$bin": "<hex>" }`.
 *
 * Each fixture must decode to its JSON and re-encode to the same bytes. Fixtures are written only
 * when missing, and only with LIFEBOAT_WRITE_FIXTURES=1 (a new message or variant); an existing one
 * is never rewritten, so an encoder change that would alter released bytes fails here.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import {
  BLOCKS_PROTOCOL_ID,
  CONTROL_PROTOCOL_ID,
  type ControlMessage,
  controlCodec,
  type DataMessage,
  dataCodec,
  FRAME_HEADER_SIZE,
  type MessageCodec,
  MessageType,
} from '../../protocol/index.js'
import { examples } from './message-examples.js'

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/protocol/v1')
const WRITE = process.env.LIFEBOAT_WRITE_FIXTURES === '1'

type Codec = MessageCodec<ControlMessage | DataMessage>
const codecs: Record<string, Codec> = {
  [CONTROL_PROTOCOL_ID]: controlCodec as Codec,
  [BLOCKS_PROTOCOL_ID]: dataCodec as Codec,
}

/** A decoded value as JSON: binary fields become `{ $bin: hex }`. */
function toJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bin: Buffer.from(value).toString('hex') }
  if (Array.isArray(value)) return value.map(toJson)
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]))
  }
  return value
}

function fromJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromJson)
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
    if (entries.length === 1 && entries[0][0] === '$bin')
      return new Uint8Array(Buffer.from(entries[0][1] as string, 'hex'))
    return Object.fromEntries(entries.map(([k, v]) => [k, fromJson(v)]))
  }
  return value
}

if (WRITE) {
  mkdirSync(DIR, { recursive: true })
  for (const { name, family, message } of examples) {
    const codec = family === 'control' ? controlCodec : dataCodec
    if (existsSync(join(DIR, `${name}.bin`))) continue
    writeFileSync(join(DIR, `${name}.bin`), (codec as Codec).encodeFrame(message))
    const json = { protocol: codec.protocolId, message: toJson(message) }
    writeFileSync(join(DIR, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`)
  }
}

const names = readdirSync(DIR)
  .filter((file) => file.endsWith('.bin'))
  .map((file) => file.slice(0, -'.bin'.length))
  .sort()

describe('golden fixtures of protocol v1', () => {
  for (const name of names) {
    it(`${name} decodes to its JSON and re-encodes to the same bytes`, () => {
      const frame = new Uint8Array(readFileSync(join(DIR, `${name}.bin`)))
      const { protocol, message } = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8'))
      const codec = codecs[protocol]
      expect(codec, `known protocol ${protocol}`).toBeDefined()

      const decoder = codec.createFrameDecoder()
      const bodies = [...decoder.decode(frame)]
      decoder.end()
      expect(bodies).toHaveLength(1)
      expect(bodies[0].length).toBe(frame.length - FRAME_HEADER_SIZE)
      const decoded = codec.decode(bodies[0])
      expect(toJson(decoded)).toEqual(message)

      expect(Buffer.from(codec.encodeFrame(decoded)).equals(Buffer.from(frame))).toBe(true)
      const rebuilt = fromJson(message) as ControlMessage | DataMessage
      expect(Buffer.from(codec.encodeFrame(rebuilt)).equals(Buffer.from(frame))).toBe(true)
    })
  }

  it('exist for every message type and every example', () => {
    const types = new Set(
      names.map((name) => JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')).message.t as number),
    )
    for (const t of Object.values(MessageType)) expect(types.has(t), `a fixture of type ${t}`).toBe(true)
    const missing = examples.filter((e) => !names.includes(e.name)).map((e) => e.name)
    expect(missing, 'run with LIFEBOAT_WRITE_FIXTURES=1 to add fixtures of new examples').toEqual([])
  })
})

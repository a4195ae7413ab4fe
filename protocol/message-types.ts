/**
 * Message type numbers: the `t` key of every message envelope (docs/PROTOCOL.md §3.1). A *family*
 * is the set of types one protocol carries: HELLO and ERROR belong to both, control types use
 * 16–63 and block types 64–127, so every `t` encodes as a one-byte msgpack fixint.
 *
 * Values are explicit and never reused: a retired type keeps its number reserved here, commented.
 */

export const MessageType = {
  HELLO: 1,
  ERROR: 2,

  ENROL: 16,
  ENROL_ACCEPTED: 17,
  HEARTBEAT: 18,
  JOB_OFFER: 19,
  JOB_ACK: 20,
  LEASE_RENEWAL: 21,
  LEASE_RENEWED: 22,
  PROGRESS: 23,
  RESULT: 24,
  LOG_ENTRY: 25,
  STATUS_REPLAY: 26,
  STATUS_ACK: 27,
  JOB_HANDBACK: 28,
  /** control 1.1: a site peer's load, relayed by the coordinator on the session stream. */
  SITE_LOAD: 29,

  OPEN_VOLUME: 64,
  VOLUME_OPENED: 65,
  HAVE_QUERY: 66,
  HAVE_ANSWER: 67,
  BLOCK_BATCH: 68,
  BATCH_ACK: 69,
  COMMIT: 70,
  COMMITTED: 71,
  ABORT: 72,
} as const

export type MessageType = (typeof MessageType)[keyof typeof MessageType]

export type MessageFamily = 'control' | 'blocks'

const names = new Map<number, string>(
  Object.entries(MessageType).map(([name, value]) => [value, name.toLowerCase().replaceAll('_', '-')]),
)

/** A type's name for messages and fixture files: `block-batch`; `type 99` for an unknown number. */
export function messageTypeName(t: number): string {
  return names.get(t) ?? `type ${t}`
}

export function isMessageType(t: unknown): t is MessageType {
  return typeof t === 'number' && names.has(t)
}

/** The family a known type belongs to; HELLO and ERROR belong to both and answer `undefined`. */
export function familyOf(t: MessageType): MessageFamily | undefined {
  if (t === MessageType.HELLO || t === MessageType.ERROR) return undefined
  return t < MessageType.OPEN_VOLUME ? 'control' : 'blocks'
}

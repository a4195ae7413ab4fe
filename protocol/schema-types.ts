/**
 * TypeBox schemas of the field types every message uses (docs/PROTOCOL.md §3.2). A *schema* here is
 * a JSON-Schema object that TypeBox compiles into a validator; the HTTP API reuses the same schemas
 * for its bodies, so the two never disagree on what an ID or an error body is.
 *
 * Objects allow properties they do not name: a peer of a higher minor version may send optional
 * fields this side does not know, and they are ignored (§1).
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox'
import {
  DIGEST_LENGTH,
  MAX_ERROR_CODE_LENGTH,
  MAX_ID_LENGTH,
  MAX_NODE_ID_LENGTH,
  MAX_PARAMS_ENTRIES,
  MAX_PARAMS_KEY_LENGTH,
  MAX_PARAMS_VALUE_LENGTH,
  MAX_TEXT_LENGTH,
  MAX_VERSION_PART,
} from './limits.js'

/** An integer 0 ≤ v ≤ 2^53 − 1, with an optional tighter range. */
export function Uint(options: { minimum?: number; maximum?: number } = {}) {
  return Type.Integer({ minimum: options.minimum ?? 0, maximum: options.maximum ?? Number.MAX_SAFE_INTEGER })
}

/** Milliseconds since the Unix epoch. */
export const Timestamp = Uint()

/** A number in [0, 1]. */
export const Ratio = Type.Number({ minimum: 0, maximum: 1 })

/** Letters, digits, `.`, `_`, `-`, starting with a letter or digit: safe as one path component. */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$'
export const Id = Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH, pattern: ID_PATTERN })

/** A libp2p peer ID in text form (base58btc or base32 CID): letters and digits only. */
export const NodeId = Type.String({ minLength: 1, maxLength: MAX_NODE_ID_LENGTH, pattern: '^[A-Za-z0-9]+$' })

export const ERROR_CODE_PATTERN = '^[A-Z][A-Z0-9_]*$'
export const ErrorCode = Type.String({
  minLength: 1,
  maxLength: MAX_ERROR_CODE_LENGTH,
  pattern: ERROR_CODE_PATTERN,
})

/** Free text of at most `max` UTF-16 code units. */
export function Text(max: number, minLength = 0) {
  return Type.String({ minLength, maxLength: max })
}

/** A BLAKE3 digest. */
export const Digest = Type.Uint8Array({ minByteLength: DIGEST_LENGTH, maxByteLength: DIGEST_LENGTH })

export const VersionSchema = Type.Object({
  major: Uint({ maximum: MAX_VERSION_PART }),
  minor: Uint({ maximum: MAX_VERSION_PART }),
})
export type ProtocolVersion = Static<typeof VersionSchema>

/** The one error shape of Lifeboat (protocol/errors.ts ErrorBody), bounded for the wire. */
export const ErrorBodySchema = Type.Object({
  code: ErrorCode,
  message: Text(MAX_TEXT_LENGTH),
  remediation: Text(MAX_TEXT_LENGTH),
  retryable: Type.Boolean(),
})
export type WireErrorBody = Static<typeof ErrorBodySchema>

/** `params` and `summary` maps: a few named scalars (§8). */
export const ScalarMap = Type.Record(
  // Record keys are checked by pattern only, so the pattern carries the length bound.
  Type.String({ pattern: `^[A-Za-z0-9][A-Za-z0-9._-]{0,${MAX_PARAMS_KEY_LENGTH - 1}}$` }),
  Type.Union([Type.String({ maxLength: MAX_PARAMS_VALUE_LENGTH }), Type.Number(), Type.Boolean()]),
  { maxProperties: MAX_PARAMS_ENTRIES, additionalProperties: false },
)
export type ScalarMap = Static<typeof ScalarMap>

/** A message schema: the literal `t` and the message's fields. */
export function Message<T extends number, P extends Record<string, TSchema>>(t: T, properties: P) {
  return Type.Object({ t: Type.Literal(t), ...properties })
}

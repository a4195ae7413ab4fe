/**
 * Validation of decoded envelopes against their message schemas (docs/PROTOCOL.md §3). A *spec*
 * pairs a message type with its TypeBox schema, compiled once at load, and optionally a *refine*
 * function for rules between fields that a schema cannot say (a reason present if and only if a job
 * was declined, digests a multiple of 32 bytes). A *problem* is the first thing wrong with a
 * message: a JSON-pointer path and what is wrong there.
 *
 * A validator serves one family: it refuses types it does not know, and names the family of a type
 * that belongs to the other protocol.
 */
import type { TObject } from '@sinclair/typebox'
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler'
import type { Envelope } from './codec.js'
import { familyOf, isMessageType, type MessageFamily, messageTypeName } from './message-types.js'
import {
  type FrameRef,
  InvalidMessageError,
  MalformedMessageError,
  UnexpectedMessageError,
  UnknownMessageTypeError,
} from './protocol-errors.js'

export interface Problem {
  path: string
  detail: string
}

export interface MessageSpec<M> {
  t: number
  schema: TObject
  /** Runs after the schema passed: the first broken rule between fields, if any. */
  refine?: (message: M) => Problem | undefined
}

interface CompiledSpec<M> {
  check: TypeCheck<TObject>
  refine?: (message: M) => Problem | undefined
}

export class MessageValidator<M extends { t: number }> {
  readonly family: MessageFamily
  private readonly specs = new Map<number, CompiledSpec<M>>()

  constructor(family: MessageFamily, specs: readonly MessageSpec<M>[]) {
    this.family = family
    for (const spec of specs) {
      this.specs.set(spec.t, { check: TypeCompiler.Compile(spec.schema), refine: spec.refine })
    }
  }

  /** True when this family carries type `t`. */
  has(t: number): boolean {
    return this.specs.has(t)
  }

  /** The first problem of a value claiming to be message `t` of this family, or undefined. */
  problemOf(t: number, value: unknown): Problem | undefined {
    const spec = this.specs.get(t)
    if (spec === undefined)
      return { path: '/t', detail: `${messageTypeName(t)} is not a ${this.family} message` }
    if (!spec.check.Check(value)) {
      const first = spec.check.Errors(value).First()
      return { path: first?.path ?? '', detail: first?.message ?? 'does not match the schema' }
    }
    return spec.refine?.(value as M)
  }

  /**
   * The value as a message of this family, or a ProtocolError: UnknownMessageTypeError,
   * UnexpectedMessageError (a type of the other family) or InvalidMessageError.
   */
  validate(value: unknown): M {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new MalformedMessageError('a message must be a map')
    }
    const envelope = value as Envelope
    const ref = refOf(envelope)
    const t = envelope.t
    if (typeof t !== 'number' || !this.specs.has(t)) {
      if (isMessageType(t) && familyOf(t) !== this.family) {
        throw new UnexpectedMessageError(
          t,
          `on a ${this.family} stream (it is a ${familyOf(t)} message)`,
          ref,
        )
      }
      throw new UnknownMessageTypeError(t, this.family, ref)
    }
    const problem = this.problemOf(t, envelope)
    if (problem !== undefined) throw new InvalidMessageError(t, problem.path, problem.detail, ref)
    return envelope as unknown as M
  }
}

/**
 * Which frame an error about this envelope answers: its `t`, and its `rid` or else its `seq`, when
 * they are plausible numbers. Read before validation, so even a refused request can be named.
 */
export function refOf(envelope: Envelope): FrameRef {
  const ref: FrameRef = {}
  const { t, rid, seq } = envelope
  if (Number.isInteger(t) && (t as number) >= 0 && (t as number) <= 255) ref.reType = t as number
  const id = Number.isSafeInteger(rid) && (rid as number) >= 0 ? rid : seq
  if (Number.isSafeInteger(id) && (id as number) >= 0) ref.reId = id as number
  return ref
}

/** A problem inside a nested value, re-rooted under `prefix` (`/items/3`). */
export function under(prefix: string, problem: Problem | undefined): Problem | undefined {
  return problem === undefined ? undefined : { path: `${prefix}${problem.path}`, detail: problem.detail }
}

/**
 * The two messages both protocols carry (docs/PROTOCOL.md §7): HELLO, the first frame each side
 * sends on every stream, and ERROR, the answer to anything refused. Both are frozen across major
 * versions, so any version can read any other's hello and error.
 *
 * A *role* is what kind of peer sent a hello: a node (`appliance` or `connector`) or the
 * `coordinator`.
 */
import { type Static, Type } from '@sinclair/typebox'
import { MAX_ADDR_LENGTH, MAX_CONNECTOR_ADDRS, MAX_SOFTWARE_LENGTH } from './limits.js'
import { MessageType } from './message-types.js'
import { ErrorBodySchema, Id, Message, NodeId, Text, Uint, VersionSchema } from './schema-types.js'

export const NodeRole = Type.Union([
  Type.Literal('appliance'),
  Type.Literal('connector'),
  Type.Literal('coordinator'),
])
export type NodeRole = Static<typeof NodeRole>

export const HelloSchema = Message(MessageType.HELLO, {
  protocol: VersionSchema,
  nodeId: NodeId,
  role: NodeRole,
  site: Type.Optional(Id),
  software: Text(MAX_SOFTWARE_LENGTH, 1),
  /**
   * Control 1.1, a connector's session HELLO only: the multiaddrs of its block listener, each ending
   * in its /p2p/ id, which the coordinator puts in the replication payloads it offers (§8).
   */
  addrs: Type.Optional(Type.Array(Text(MAX_ADDR_LENGTH, 1), { maxItems: MAX_CONNECTOR_ADDRS })),
})
export type Hello = Static<typeof HelloSchema>

export const ErrorMessageSchema = Message(MessageType.ERROR, {
  ...ErrorBodySchema.properties,
  reType: Type.Optional(Uint({ maximum: 255 })),
  reId: Type.Optional(Uint()),
})
export type ErrorMessage = Static<typeof ErrorMessageSchema>

export const commonSpecs = [
  { t: MessageType.HELLO, schema: HelloSchema },
  { t: MessageType.ERROR, schema: ErrorMessageSchema },
] as const

/**
 * The public face of protocol/: everything agents, the coordinator and the transport use to speak
 * the wire protocol of docs/PROTOCOL.md. protocol/ is pure: no I/O, and nothing of ours imported.
 */
export * from './block-records.js'
export * from './common-messages.js'
export * from './control-messages.js'
export * from './data-messages.js'
export * from './error-frames.js'
export * from './errors.js'
export * from './frame.js'
export * from './have-bitmap.js'
export * from './hello.js'
export * from './job-payloads.js'
export * from './limits.js'
export type { MessageCodec } from './message-codec.js'
export * from './message-types.js'
export * from './protocol-errors.js'
export * from './protocol-ids.js'
export * from './replication-summary.js'
export * from './schema-types.js'

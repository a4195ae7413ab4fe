/**
 * The public face of agent/blocks/: the block link (docs/PROTOCOL.md §4 "Block stream") — the
 * connector's block-data listener (which serves volume sessions into a chunk store) and the
 * appliance's block client, which dials it, with the volume sender on top.
 */
export { BlockChannel } from '../../transport/message-channel.js'
export * from './block-client.js'
export * from './block-listener.js'
export * from './errors.js'
export * from './outgoing-records.js'
export * from './recovery-point-id.js'
export * from './volume-sender.js'
export { VolumeSession } from './volume-session.js'

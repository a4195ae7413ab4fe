/**
 * The public face of agent/blocks/: the block link (docs/PROTOCOL.md §4 "Block stream") — the
 * connector's block-data listener and the appliance's block client, which dials it.
 */
export { BlockChannel } from '../../transport/message-channel.js'
export * from './block-client.js'
export * from './block-listener.js'
export * from './errors.js'

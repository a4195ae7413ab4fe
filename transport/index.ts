/**
 * The transport's public surface, for agent/, coordinator/ and cli/: the node factory, the node
 * identity, and the stream helpers that solve the libp2p 3 pitfalls once (docs/TRANSPORT.md).
 * Importing it loads the Promise.withResolvers polyfill before libp2p (via node.ts).
 */

export * from './errors.js'
export * from './framed-stream.js'
export * from './identity.js'
export * from './keep-connected.js'
export * from './limits.js'
export * from './message-channel.js'
export * from './node.js'
export * from './open-stream.js'
export * from './read-to-end.js'
export * from './stream-close.js'
export { sleep, type WaitOptions, waitForEvent, waitForEvents } from './stream-events.js'
export * from './stream-reader.js'
export * from './stream-writer.js'

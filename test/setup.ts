// Loaded before every test file (vitest.config.ts): libp2p needs Promise.withResolvers on Node 20.
import '../protocol/promise-with-resolvers.js'

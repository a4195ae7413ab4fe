/**
 * The public face of coordinator/control/: the control link between enrolled nodes and the
 * coordinator (docs/CONTROL.md). The job dispatcher uses `ControlServer.openStreamTo` and
 * `loadOf`; notifications subscribe to its event bus; the CLI starts a coordinator from its data
 * directory and issues tokens through the admin socket.
 */
export * from './admin-client.js'
export * from './admin-server.js'
export * from './control-server.js'
export * from './coordinator-runtime.js'
export * from './errors.js'
export * from './events.js'
export type { NodeLoad } from './liveness.js'
export * from './logger.js'
export * from './options.js'
export * from './token-issue.js'

/**
 * The public face of agent/control/: the agent's end of the control link (docs/CONTROL.md) —
 * enrolment, the kept connection and session with heartbeats, and handlers for the streams the
 * coordinator opens to push work.
 */
export * from './agent-runtime.js'
export * from './byte-counter.js'
export * from './control-client.js'
export * from './enrol-client.js'
export * from './enrolment-file.js'
export * from './errors.js'
export * from './events.js'
export * from './load-sampler.js'
export * from './logger.js'

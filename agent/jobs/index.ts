/**
 * The agent's job runner and its errors.
 */
export * from './errors.js'
export * from './job-runner.js'
export * from './load-sharing.js'

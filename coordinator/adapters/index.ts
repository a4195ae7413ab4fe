/**
 * Adapters from the metadata store to the ports of the scheduler and the dispatcher.
 */
export * from './dispatch-queue-adapter.js'
export * from './scheduler-store-adapter.js'

/**
 * Writes the job lifecycle to the coordinator's log, one JSON line per event, so an operator (and a
 * test reading the CLI's stdout) sees what happened to each job: `job-acknowledged`,
 * `job-succeeded`, `job-failed`, `job-retried`, and the plan-level `rpo-at-risk`, `run-held`,
 * `recovery-points` and `retention-conflict`. `queued` and `offered` are logged where they happen
 * (`job-scheduled` by the scheduler, `job-offered` by the dispatcher), and node presence by the
 * control server, so they are not repeated here.
 */
import type { LifecycleEventMap, LifecycleEvents } from './lifecycle-events.js'
import type { CoordinatorLogger } from './logger.js'

const LOGGED = {
  acknowledged: { event: 'job-acknowledged', level: 'info' },
  succeeded: { event: 'job-succeeded', level: 'info' },
  failed: { event: 'job-failed', level: 'warn' },
  retried: { event: 'job-retried', level: 'warn' },
  'rpo-at-risk': { event: 'rpo-at-risk', level: 'warn' },
  'run-held': { event: 'run-held', level: 'warn' },
  'recovery-points': { event: 'recovery-points', level: 'info' },
  'retention-conflict': { event: 'retention-conflict', level: 'warn' },
} as const satisfies Partial<Record<keyof LifecycleEventMap, { event: string; level: 'info' | 'warn' }>>

/** Subscribes; returns the unsubscribe. */
export function logLifecycleEvents(events: LifecycleEvents, log: CoordinatorLogger): () => void {
  const offs = Object.entries(LOGGED).map(([type, { event, level }]) =>
    events.on(type as keyof typeof LOGGED, (payload: object) => {
      log[level]({ ...payload, event }, `${event}`)
    }),
  )
  return () => {
    for (const off of offs) off()
  }
}

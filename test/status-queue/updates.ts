// Status updates for the status-queue tests: one builder per type, with plausible fields.
import type { StatusUpdateInput } from '../../agent/status-queue/index.js'
import { MessageType } from '../../protocol/message-types.js'

export const AT = 1_700_000_000_000
export const NODE = `12D3KooW${'N'.repeat(44)}`

export function progress(jobId: string, percent: number): StatusUpdateInput {
  return { t: MessageType.PROGRESS, at: AT + percent, jobId, step: 'copy', bytesDone: percent, percent }
}

export function result(jobId: string, leaseId: string, ok = true): StatusUpdateInput {
  return ok
    ? { t: MessageType.RESULT, at: AT, jobId, leaseId, ok: true, summary: { bytes: 42 } }
    : {
        t: MessageType.RESULT,
        at: AT,
        jobId,
        leaseId,
        ok: false,
        error: {
          code: 'AGENT_READ_FAILED',
          message: 'read failed',
          remediation: 'Check the disk.',
          retryable: true,
        },
      }
}

export function logEntry(jobId: string, message: string, at = AT): StatusUpdateInput {
  return { t: MessageType.LOG_ENTRY, at, jobId, nodeId: NODE, step: 'copy', level: 'info', message }
}

export function handback(jobId: string, leaseId: string): StatusUpdateInput {
  return {
    t: MessageType.JOB_HANDBACK,
    at: AT,
    jobId,
    leaseId,
    reason: { code: 'AGENT_SHUTTING_DOWN', message: 'stopping', remediation: 'None.', retryable: true },
  }
}

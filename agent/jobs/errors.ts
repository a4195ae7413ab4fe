/**
 * Errors of the agent's job runner (`AGENT_JOB_*`), listed in docs/ERRORS.md "Job runner". They
 * reach the coordinator as the `reason` of a declined JOB_ACK or the `error` of a RESULT.
 */
import { LifeboatError } from '../../protocol/index.js'

export const AgentJobErrorCode = {
  /** The agent has no executor for the offered job type. */
  TYPE_UNSUPPORTED: 'AGENT_JOB_TYPE_UNSUPPORTED',
  /** The agent already runs its maxJobs. */
  OVERLOADED: 'AGENT_JOB_OVERLOADED',
  /** The coordinator refused a renewal: the lease (and its fencing token) is stale; work stopped. */
  LEASE_LOST: 'AGENT_JOB_LEASE_LOST',
  /** The agent is stopping: its jobs are handed back. */
  SHUTTING_DOWN: 'AGENT_JOB_SHUTTING_DOWN',
  /** The agent is overloaded and a node of its site has room: a job not yet started is handed back. */
  REBALANCED: 'AGENT_JOB_REBALANCED',
  /** An executor threw something without a code. */
  EXECUTOR_FAILED: 'AGENT_JOB_EXECUTOR_FAILED',
} as const

export type AgentJobErrorCode = (typeof AgentJobErrorCode)[keyof typeof AgentJobErrorCode]

export class AgentJobError extends LifeboatError {
  declare readonly code: AgentJobErrorCode

  constructor(
    code: AgentJobErrorCode,
    message: string,
    init: { remediation: string; retryable?: boolean; cause?: unknown },
  ) {
    super(code, message, init)
    this.name = 'AgentJobError'
  }
}

export function typeUnsupported(jobType: string): AgentJobError {
  return new AgentJobError(
    AgentJobErrorCode.TYPE_UNSUPPORTED,
    `this agent cannot run ${jobType} jobs yet: it has no executor for them`,
    { remediation: `Run ${jobType} jobs on a node whose agent version executes them.`, retryable: false },
  )
}

export function overloaded(active: number, max: number): AgentJobError {
  return new AgentJobError(AgentJobErrorCode.OVERLOADED, `this agent runs ${active} of its ${max} jobs`, {
    remediation: 'Nothing: the job goes to another node, or here once a job ends.',
    retryable: true,
  })
}

export function shuttingDown(): AgentJobError {
  return new AgentJobError(AgentJobErrorCode.SHUTTING_DOWN, 'the agent is stopping', {
    remediation: 'Nothing: the job is handed back and offered to another node at once.',
    retryable: true,
  })
}

export function rebalanced(why: string, peerId: string): AgentJobError {
  return new AgentJobError(
    AgentJobErrorCode.REBALANCED,
    `handed back: this node is overloaded (${why}) and node ${peerId} of its site has room`,
    { remediation: 'Nothing: the job goes to a node with room.', retryable: true },
  )
}

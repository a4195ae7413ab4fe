/**
 * Errors of the replication benchmark itself (bench/replication/replication-bench.ts), beside the
 * peer harness's (bench-errors.ts): a node process that did not start, a Lifeboat cycle that failed
 * or timed out, and a cycle whose result does not check out. Listed in docs/ERRORS.md
 * "Replication benchmark harness".
 */
import { BenchError, type BenchErrorCode } from './bench-errors.js'

export const ReplicationBenchErrorCode = {
  /** An appliance or connector child process did not start, or failed. */
  NODE_FAILED: 'BENCH_NODE_FAILED',
  /** A replication cycle was not enqueued, failed, or did not finish in time. */
  CYCLE_FAILED: 'BENCH_CYCLE_FAILED',
  /** A cycle succeeded but its point is not catalogued, or does not match an independent scan. */
  CYCLE_WRONG: 'BENCH_CYCLE_WRONG',
} as const

function benchError(code: string, message: string, remediation: string, retryable = false): BenchError {
  return new BenchError(code as BenchErrorCode, message, { remediation, retryable })
}

export function nodeFailed(message: string): BenchError {
  return benchError(
    ReplicationBenchErrorCode.NODE_FAILED,
    message,
    'Build first (npm run build) so dist/cli/main.js exists; read the node’s log lines quoted above.',
    true,
  )
}

export function cycleFailed(message: string, retryable = false): BenchError {
  return benchError(
    ReplicationBenchErrorCode.CYCLE_FAILED,
    message,
    'Read the job error quoted above and the nodes’ log lines; on a loaded machine raise the time limit.',
    retryable,
  )
}

export function cycleWrong(message: string): BenchError {
  return benchError(
    ReplicationBenchErrorCode.CYCLE_WRONG,
    message,
    'This is a replication bug: keep the figures above and report them with the job id.',
  )
}

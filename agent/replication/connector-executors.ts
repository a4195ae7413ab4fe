/**
 * The connector's executors over its chunk store (blockio/chunk-store/):
 *
 * - `consistency-check`: for each volume of the payload, reads, decrypts, decompresses and hashes
 *   every chunk of the named recovery point and compares it with the block map the appliance
 *   committed (its source index). Every mismatching block is logged by number; the job fails with
 *   AGENT_REPLICATION_CHECK_FAILED when any is found (not retryable: the data will not heal).
 * - `maintenance` task `prune`: deletes the recovery points the payload names (retention expired
 *   them, coordinator/replication/retention.ts), then collects the tenant's chunks that no point
 *   and no cycle in flight names. Deleting a point that is already gone is not an error, so a
 *   retried prune finishes what an interrupted one started.
 */
import type { CheckReport, ChunkStore } from '../../blockio/chunk-store/index.js'
import type { ConsistencyCheckPayload, JobOffer, MaintenancePayload } from '../../protocol/index.js'
import { AgentJobError, AgentJobErrorCode } from '../jobs/errors.js'
import type { JobContext, JobExecutor, JobSummary } from '../jobs/job-runner.js'
import { ReplicationError, ReplicationErrorCode } from './errors.js'

/** Mismatching blocks logged one by one per volume; the rest are counted. */
export const MAX_LOGGED_PROBLEMS = 100

export function createCheckExecutor(components: { store: ChunkStore }): JobExecutor {
  return async (job: JobOffer, ctx: JobContext): Promise<JobSummary> => {
    const payload = job.payload as ConsistencyCheckPayload
    const summary: JobSummary = { blocksChecked: 0, bytesChecked: 0, problems: 0 }
    const failing: string[] = []
    for (const volume of payload.volumes) {
      const step = `check ${volume.volumeId} point ${volume.recoveryPointId}`
      const report: CheckReport = await components.store.checkPoint(payload.tenant, volume.recoveryPointId, {
        signal: ctx.signal,
        onProgress: (done, total) => ctx.progress(step, done, total === 0 ? 100 : (100 * done) / total),
      })
      const problems = report.problems.length + report.moreProblems
      summary.blocksChecked = Number(summary.blocksChecked) + report.blocksChecked
      summary.bytesChecked = Number(summary.bytesChecked) + report.bytesChecked
      summary.problems = Number(summary.problems) + problems
      summary[`problems.${volume.volumeId}`] = problems
      for (const problem of report.problems.slice(0, MAX_LOGGED_PROBLEMS)) {
        // The store's message already names the block (`block <n>: …`, CheckProblem).
        ctx.log('error', step, problem.message, {
          error: {
            code: problem.code,
            message: problem.message,
            remediation: CHECK_REMEDIATION,
            retryable: false,
          },
        })
      }
      if (problems > MAX_LOGGED_PROBLEMS) {
        ctx.log('error', step, `${problems - MAX_LOGGED_PROBLEMS} more mismatching blocks not listed`)
      }
      if (problems === 0) {
        ctx.log(
          'info',
          step,
          `${report.blocksChecked} blocks (${report.bytesChecked} bytes) match the block map`,
        )
      } else {
        failing.push(`${volume.volumeId}: ${problems} (first: block ${report.problems[0]?.index})`)
      }
    }
    if (failing.length > 0) {
      throw new ReplicationError(
        ReplicationErrorCode.CHECK_FAILED,
        `recovery points do not match their block maps: ${failing.join('; ')}`,
        { remediation: CHECK_REMEDIATION },
      )
    }
    return summary
  }
}

const CHECK_REMEDIATION =
  'The job log names every mismatching block. Run a new replication cycle (it re-sends the blocks the ' +
  'connector lacks) and do not fail over to this point; check the connector’s disk for errors.'

export function createPruneExecutor(components: { store: ChunkStore }): JobExecutor {
  return async (job: JobOffer, ctx: JobContext): Promise<JobSummary> => {
    const payload = job.payload as MaintenancePayload
    if (payload.task !== 'prune') {
      throw new AgentJobError(
        AgentJobErrorCode.TYPE_UNSUPPORTED,
        `maintenance task ${payload.task} does not run on a connector`,
        { remediation: 'Schedule upgrade and key-rotation tasks for appliances.' },
      )
    }
    if (payload.tenant === undefined) {
      throw new ReplicationError(ReplicationErrorCode.NOT_CONFIGURED, 'a prune job must name its tenant', {
        remediation: 'This is a coordinator bug: prune payloads always carry the tenant.',
      })
    }
    const points = payload.points ?? []
    let deleted = 0
    for (const [n, pointId] of points.entries()) {
      ctx.signal.throwIfAborted()
      if (await components.store.deletePoint(payload.tenant, pointId)) deleted++
      ctx.progress('delete expired points', n + 1, (100 * (n + 1)) / Math.max(points.length, 1))
    }
    ctx.log('info', 'delete expired points', `${deleted} of ${points.length} expired points deleted`)
    const gc = await components.store.collectGarbage(payload.tenant, { signal: ctx.signal })
    ctx.log(
      'info',
      'collect garbage',
      `${gc.chunksRemoved} chunks removed, ${gc.bytesReclaimed} bytes reclaimed, ${gc.packsRewritten} packs rewritten, ${gc.packsDeleted} deleted`,
      { bytesDone: gc.bytesReclaimed },
    )
    return {
      pointsDeleted: deleted,
      pointsNamed: points.length,
      chunksRemoved: gc.chunksRemoved,
      bytesReclaimed: gc.bytesReclaimed,
      packsRewritten: gc.packsRewritten,
      packsDeleted: gc.packsDeleted,
    }
  }
}

/**
 * The appliance's executor of `replication-cycle` jobs (issue "Replication end to end" §1): for each
 * volume of the payload, in order —
 *
 * 1. look its image or device up in the volume map (volume-map.ts);
 * 2. take the index committed as the payload's base point, when this appliance has it
 *    (volume-state.ts), and the hypervisor's changed-extents file, when there is one;
 * 3. scan: in full against that index (only blocks whose digest changed are *sent*), or, with
 *    change tracking, only the extents (agent/scan/, LZ4 in worker threads);
 * 4. open a block stream to the connector of the payload with the lease's fencing token, ask which
 *    chunks it already holds, send the rest in acknowledged batches, and commit the volume's block
 *    map (agent/blocks/volume-sender.ts): the connector makes it a recovery point;
 * 5. keep the new index as the one committed as that point, and delete the consumed extents file.
 *
 * Without a usable base index every block is sent as a record, and chunks the connector holds go
 * as HELD (hashes, not data): a resync after lost change tracking, or a second VM with the same
 * content, moves hashes only. A cycle retried after any interruption runs again from step 1: chunks
 * stored by the interrupted attempt are HELD, and the commit names the same point id, so the result
 * equals an uninterrupted run. A volume an earlier attempt of the same job already committed (its
 * index is kept under the job's point id) is not sent again: that point stands.
 *
 * The RESULT summary names each volume's point for the coordinator's catalogue:
 * `rp.<volumeId>` = `<pointId>:<map digest hex>:<volume size>` (replication-summary.ts), and totals.
 */
import { stat, unlink } from 'node:fs/promises'
import { BlockFlag } from '../../blockio/block-flags.js'
import type { BlockIndex } from '../../blockio/block-index.js'
import { blockLength } from '../../blockio/block-source.js'
import type { ChangedBlockMap } from '../../blockio/changed-block-map.js'
import { readChangedExtentsFile } from '../../blockio/extents.js'
import { openFileBlockSource } from '../../blockio/file-block-source.js'
import {
  formatPointSummary,
  type JobOffer,
  RemoteError,
  type ReplicationCyclePayload,
  type ReplicationVolume,
} from '../../protocol/index.js'
import type { LifeboatNode } from '../../transport/index.js'
import { openBlockStream } from '../blocks/block-client.js'
import { recoveryPointIdFor } from '../blocks/recovery-point-id.js'
import { sendVolume } from '../blocks/volume-sender.js'
import type { JobContext, JobExecutor, JobSummary } from '../jobs/job-runner.js'
import type { BlockRecord } from '../scan/scan-batch.js'
import { VolumeScan } from '../scan/scan-pipeline.js'
import type { ScanPoolLender } from '../scan/scan-worker-pool.js'
import { blockMapOf, mapDigestHex } from './block-map.js'
import { ReplicationError, ReplicationErrorCode } from './errors.js'
import { mappedVolume, readVolumeMap } from './volume-map.js'
import { loadCommittedIndex, saveCommittedIndex } from './volume-state.js'

export interface ReplicationExecutorInit {
  /** The appliance's data directory: volume state lives under it. */
  dataDir: string
  /** The volume map file (volume-map.ts). */
  volumeMapPath: string
  /** The site the appliance enrolled in, for block-stream hellos. */
  site?: string
  software: string
  /** Scan worker threads; the scan's default when absent. */
  workers?: number
}

export interface ReplicationExecutorComponents {
  node: LifeboatNode
  now?: () => number
  /**
   * Scan worker threads kept across cycles (agent/scan/shared-scan-pool.ts), owned by the caller;
   * without it each volume's scan starts and ends threads of its own.
   */
  scanPool?: ScanPoolLender
}

/** What one volume's cycle did. */
export interface VolumeCycleReport {
  volumeId: string
  pointId: string
  mapDigest: string
  volumeSize: number
  /** full: every block read; tracked: only changed extents read; committed: by an earlier attempt. */
  mode: 'full' | 'tracked' | 'committed'
  blocksRead: number
  bytesRead: number
  changedBlocks: number
  /** Records whose chunk the connector already held (HELD). */
  heldRecords: number
  payloadBytes: number
  plainBytesSent: number
  durationMs: number
}

export function createReplicationExecutor(
  init: ReplicationExecutorInit,
  components: ReplicationExecutorComponents,
): JobExecutor {
  const now = components.now ?? Date.now
  return async (job: JobOffer, ctx: JobContext): Promise<JobSummary> => {
    if (job.jobType !== 'replication-cycle') throw new TypeError(`not a replication cycle: ${job.jobType}`)
    const payload = job.payload as ReplicationCyclePayload
    const started = now()
    const map = await readVolumeMap(init.volumeMapPath)
    const summary: JobSummary = {}
    let totals = { payloadBytes: 0, changedBlocks: 0, heldRecords: 0, bytesRead: 0, plainBytesSent: 0 }
    for (const [n, volume] of payload.volumes.entries()) {
      const step = `volume ${volume.volumeId} (${n + 1}/${payload.volumes.length})`
      const report = await replicateVolume(job, payload, volume, step, ctx)
      summary[`rp.${volume.volumeId}`] = formatPointSummary(report)
      totals = {
        payloadBytes: totals.payloadBytes + report.payloadBytes,
        changedBlocks: totals.changedBlocks + report.changedBlocks,
        heldRecords: totals.heldRecords + report.heldRecords,
        bytesRead: totals.bytesRead + report.bytesRead,
        plainBytesSent: totals.plainBytesSent + report.plainBytesSent,
      }
      ctx.log(
        'info',
        step,
        `committed point ${report.pointId}: ${report.changedBlocks} changed blocks, ` +
          `${report.payloadBytes} bytes sent (${report.mode} scan of ${report.bytesRead} bytes) in ${report.durationMs} ms`,
        { bytesDone: report.payloadBytes },
      )
    }
    return { ...summary, ...totals, durationMs: now() - started }

    async function replicateVolume(
      offer: JobOffer,
      cycle: ReplicationCyclePayload,
      volume: ReplicationVolume,
      step: string,
      context: JobContext,
    ): Promise<VolumeCycleReport> {
      const volumeStarted = now()
      const steps = stepTimer()
      const entry = mappedVolume(map, volume.volumeId, init.volumeMapPath)
      // An earlier attempt of this job committed the volume already: that point stands (a retry
      // after a later volume failed must not try to commit another map under the same point id).
      const ownPointId = recoveryPointIdFor(offer.jobId, volume.volumeId)
      const committed = await loadCommittedIndex(init.dataDir, volume.volumeId, ownPointId, volume.blockSize)
      if (committed !== undefined) {
        context.log('info', step, `already committed as point ${ownPointId} by an earlier attempt`)
        return {
          volumeId: volume.volumeId,
          pointId: ownPointId,
          mapDigest: mapDigestHex(blockMapOf(committed)),
          volumeSize: committed.volumeSize,
          mode: 'committed',
          blocksRead: 0,
          bytesRead: 0,
          changedBlocks: 0,
          heldRecords: 0,
          payloadBytes: 0,
          plainBytesSent: 0,
          durationMs: now() - volumeStarted,
        }
      }
      const previous = await loadCommittedIndex(
        init.dataDir,
        volume.volumeId,
        volume.baseRecoveryPointId,
        volume.blockSize,
        (why) => context.log('warn', step, `${why}; scanning the whole volume`),
      )
      steps.mark('indexes loaded')
      const source = await openFileBlockSource(entry.path, { blockSize: volume.blockSize })
      try {
        let changed: ChangedBlockMap | undefined
        if (previous !== undefined && entry.changedExtents !== undefined) {
          changed = await readTrackedChanges(entry.changedExtents, source.size, volume.blockSize)
        }
        const scan = new VolumeScan(
          source,
          {
            previous,
            changed,
            compress: true,
            workers: init.workers,
            signal: context.signal,
            onProgress: (bytesRead, totalBytes) =>
              context.progress(
                step,
                bytesRead,
                totalBytes === 0 ? 100 : (100 * bytesRead) / totalBytes,
                totalBytes,
              ),
          },
          components.scanPool === undefined ? {} : { sharedPool: components.scanPool },
        )
        steps.mark('source opened')
        const stream = await openConnectorStream(cycle, context.signal)
        steps.mark('stream open')
        let changedBlocks = 0
        let plainBytesSent = 0
        const sent = await (async () => {
          try {
            return await sendVolume(stream, {
              open: {
                tenant: cycle.tenant,
                vmId: cycle.vmId,
                volumeId: volume.volumeId,
                jobId: offer.jobId,
                fencingToken: offer.fencingToken,
                blockSize: volume.blockSize,
                volumeSize: source.size,
                blockCount: source.blockCount,
                ...(previous === undefined || volume.baseRecoveryPointId === undefined
                  ? {}
                  : { baseRecoveryPointId: volume.baseRecoveryPointId }),
              },
              records: changedRecords(scan, (record) => {
                if (changedBlocks === 0) steps.mark('first changed record')
                changedBlocks++
                if ((record.flags & BlockFlag.ZERO) === 0)
                  plainBytesSent += blockLength(source.size, source.blockSize, record.index)
              }),
              blockMap: () => blockMapOf(scan.index),
              signal: context.signal,
              onStep: (step) => steps.mark(step === 'sent' ? 'scan done, last batch sent' : step),
            })
          } finally {
            await stream.close()
          }
        })()
        const index: BlockIndex = scan.index
        await saveCommittedIndex(init.dataDir, volume.volumeId, sent.recoveryPointId, index)
        steps.mark('index saved')
        if (changed !== undefined && entry.changedExtents !== undefined) {
          await unlink(entry.changedExtents).catch(() => undefined)
        }
        context.log('debug', step, `timings (ms since the volume started): ${steps.text()}`)
        return {
          volumeId: volume.volumeId,
          pointId: sent.recoveryPointId,
          mapDigest: mapDigestHex(blockMapOf(index)),
          volumeSize: source.size,
          mode: changed === undefined ? 'full' : 'tracked',
          blocksRead: scan.blocksToRead,
          bytesRead: scan.totalBytes,
          changedBlocks,
          heldRecords: sent.heldRecords,
          payloadBytes: sent.payloadBytes,
          plainBytesSent,
          durationMs: now() - volumeStarted,
        }
      } finally {
        await source.close()
      }
    }
  }

  /** Dials the payload's connector at the first address that answers. */
  async function openConnectorStream(cycle: ReplicationCyclePayload, signal: AbortSignal) {
    const { addrs, nodeId } = cycle.connector
    if (addrs.length === 0) {
      throw new ReplicationError(
        ReplicationErrorCode.CONNECTOR_UNREACHABLE,
        `the job names connector ${nodeId} but no address of it: the connector is not connected to the coordinator, or announced no block listener`,
        {
          remediation:
            'Start the connector with --block-listen and check it is online; the coordinator retries the cycle.',
          retryable: true,
        },
      )
    }
    const failures: string[] = []
    for (const addr of addrs) {
      try {
        return await openBlockStream(components.node, addr, {
          site: init.site,
          software: init.software,
          signal,
        })
      } catch (error) {
        if (signal.aborted) throw error
        // A refusal by the connector itself is its answer, not an unreachable address.
        if (isRemoteRefusal(error)) throw error
        failures.push(`${addr}: ${(error as Error).message}`)
      }
    }
    throw new ReplicationError(
      ReplicationErrorCode.CONNECTOR_UNREACHABLE,
      `connector ${nodeId} could not be reached at any of its addresses: ${failures.join('; ')}`,
      {
        remediation: 'Check that the appliance can open TCP connections to the connector’s block listener.',
        retryable: true,
      },
    )
  }
}

/** Milliseconds from its creation to each named step, for the cycle's debug log line. */
function stepTimer(): { mark(step: string): void; text(): string } {
  const started = performance.now()
  const marks: string[] = []
  return {
    mark(step) {
      marks.push(`${step} ${(performance.now() - started).toFixed(1)}`)
    },
    text: () => marks.join(', '),
  }
}

/** The records a cycle sends: every CHANGED block (all of them when the scan had no previous index). */
async function* changedRecords(
  scan: VolumeScan,
  onRecord: (record: BlockRecord) => void,
): AsyncGenerator<BlockRecord> {
  for await (const record of scan) {
    if ((record.flags & BlockFlag.CHANGED) === 0) continue
    onRecord(record)
    yield record
  }
}

async function readTrackedChanges(
  path: string,
  volumeSize: number,
  blockSize: number,
): Promise<ChangedBlockMap | undefined> {
  try {
    await stat(path)
  } catch (error) {
    // No report for this period: the full scan is the safe answer. Other failures are the reader's.
    if ((error as { code?: string }).code === 'ENOENT') return undefined
  }
  return readChangedExtentsFile(path, { volumeSize, blockSize })
}

function isRemoteRefusal(error: unknown): boolean {
  return error instanceof RemoteError
}

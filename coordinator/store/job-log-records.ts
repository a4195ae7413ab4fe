/**
 * The contract's job logs. Part of `MetadataStore`; imports no implementation.
 *
 * A job's *log* is the structured stream the orchestration documents promise for every job: entries
 * with a time, the node that ran the step, bytes processed and any error with its remediation. Each
 * entry gets the next *sequence number* of its job's log (1, 2, 3, …), which is the cursor of paged
 * reads. An entry a node sent may come again (a status replay after a reconnect): when it names the
 * node and the node's own status-update number (`nodeSeq`), an entry with the same node, number and
 * time is recognised and not stored twice (docs/PROTOCOL.md §4, "LOG_ENTRY by nodeId + seq + at").
 */
import type { ErrorBody } from '../../protocol/errors.js'
import type { Timestamp } from './metadata-store.js'

export type JobLogLevel = 'debug' | 'info' | 'warn' | 'error'
export const JOB_LOG_LEVELS: readonly JobLogLevel[] = ['debug', 'info', 'warn', 'error']

export interface NewJobLogEntry {
  /** When the step happened (the node's time for a node's entry). */
  at: Timestamp
  level: JobLogLevel
  /** The step's name: 1 – 128 characters. */
  step: string
  /** Up to 4,096 characters. */
  message: string
  /** The node that ran the step; absent for the coordinator's own entries. */
  nodeId?: string
  /** The node's status-update number of this entry (needs nodeId): makes replays idempotent. */
  nodeSeq?: number
  bytesDone?: number
  error?: ErrorBody
}

export interface JobLogEntry extends NewJobLogEntry {
  /** Position in the job's log, from 1. */
  seq: number
}

export interface JobLogPage {
  /** Entries with a sequence number above this one; from the start when absent. */
  after?: number
  /** At most this many (1 – MAX_JOB_LOG_PAGE_SIZE). */
  limit: number
}

export interface JobLogRecords {
  /**
   * Appends an entry to the job's log and returns it with its sequence number; a replayed node entry
   * returns the entry already stored. Throws JOB_NOT_FOUND, JOB_LOG_FULL, STORE_INVALID_ARGUMENT.
   */
  appendJobLog(tenantId: string, jobId: string, entry: NewJobLogEntry): Promise<JobLogEntry>
  /** Entries in sequence order after `page.after`, at most `page.limit`; empty for an unknown job. */
  listJobLog(tenantId: string, jobId: string, page: JobLogPage): Promise<JobLogEntry[]>
}

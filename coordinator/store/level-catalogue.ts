/**
 * The recovery-point catalogue, notification channels and job logs on classic-level: each change as
 * a function returning its result and the operations of its ONE batch (run inside the store's write
 * lock), and the reads. Keys in level-protection-layout.ts and level-job-layout.ts.
 *
 * A recovery point is written with its index entry `…!rp-vm!<vm>!<volume>!<createdAt>!<id>`, so a
 * VM's points (or one volume's) come out oldest first in one range read. A job log entry's key ends
 * in its sequence number as a time key; the next number is one more than the last key's, found by
 * one reverse read of the job's range.
 */

import { jobNotFound, logFull } from '../jobs/errors.js'
import { MAX_JOB_LOG_ENTRIES } from '../jobs/job-defaults.js'
import type { ChannelInput, NotificationChannel } from './channel-records.js'
import { alreadyExists, corrupt, notFound } from './errors.js'
import type { JobLogEntry, NewJobLogEntry } from './job-log-records.js'
import * as jobs from './level-job-layout.js'
import * as layout from './level-layout.js'
import type { Planned } from './level-protection.js'
import { levelReader } from './level-protection.js'
import * as keys from './level-protection-layout.js'
import { getRecord, put } from './level-records.js'
import type { Timestamp } from './metadata-store.js'
import type { StoreDatabase } from './migrations.js'
import { pointToAdd } from './protection-rules.js'
import type { NewRecoveryPoint, RecoveryPoint } from './recovery-point-records.js'

export async function addPoint(
  db: StoreDatabase,
  tenantId: string,
  point: NewRecoveryPoint & { tags: string[] },
): Promise<Planned<RecoveryPoint>> {
  const existing = await getRecord(db, keys.pointKey(tenantId, point.id), keys.decodePoint)
  const { record, write } = await pointToAdd(levelReader(db), tenantId, point, existing)
  if (!write) return { result: record, operations: [] }
  return {
    result: record,
    operations: [
      put(keys.pointKey(tenantId, record.id), record),
      put(keys.pointIndexKey(tenantId, record), { pointId: record.id }),
    ],
  }
}

export async function listPoints(
  db: StoreDatabase,
  tenantId: string,
  vmId: string,
  volumeId: string | undefined,
): Promise<RecoveryPoint[]> {
  const entries = await db.iterator(layout.prefixRange(keys.pointIndexPrefix(tenantId, vmId, volumeId))).all()
  if (entries.length === 0) return []
  const pointKeys = entries.map(([key, raw]) =>
    keys.pointKey(tenantId, keys.decodePointEntry(key, raw).pointId),
  )
  const raws = await db.getMany(pointKeys)
  return raws.map((raw, n) => {
    const point = raw === undefined ? undefined : keys.decodePoint(pointKeys[n], raw)
    if (point === undefined || keys.pointIndexKey(tenantId, point) !== entries[n][0]) {
      throw corrupt(`${entries[n][0]} names a recovery point that is missing or does not match it`)
    }
    return point
  })
}

export async function tagPoint(
  db: StoreDatabase,
  tenantId: string,
  pointId: string,
  tags: string[],
): Promise<Planned<RecoveryPoint>> {
  const point = await getRecord(db, keys.pointKey(tenantId, pointId), keys.decodePoint)
  if (point === undefined) throw notFound('recovery point', pointId, tenantId)
  const next: RecoveryPoint = { ...point, tags }
  return { result: next, operations: [put(keys.pointKey(tenantId, pointId), next)] }
}

export async function deletePoint(
  db: StoreDatabase,
  tenantId: string,
  pointId: string,
): Promise<Planned<boolean>> {
  const point = await getRecord(db, keys.pointKey(tenantId, pointId), keys.decodePoint)
  if (point === undefined) return { result: false, operations: [] }
  return {
    result: true,
    operations: [
      { type: 'del', key: keys.pointKey(tenantId, pointId) },
      { type: 'del', key: keys.pointIndexKey(tenantId, point) },
    ],
  }
}

export async function writeChannel(
  db: StoreDatabase,
  tenantId: string,
  channelId: string,
  channel: ChannelInput,
  now: Timestamp,
  creating: boolean,
): Promise<Planned<NotificationChannel>> {
  const previous = await getRecord(db, keys.channelKey(tenantId, channelId), keys.decodeChannel)
  if (creating) {
    if ((await getRecord(db, layout.tenantKey(tenantId), layout.decodeTenant)) === undefined) {
      throw notFound('tenant', tenantId)
    }
    if (previous !== undefined) throw alreadyExists('channel', channelId)
  } else if (previous === undefined) {
    throw notFound('channel', channelId, tenantId)
  }
  const record: NotificationChannel = {
    tenantId,
    id: channelId,
    ...channel,
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
  }
  return { result: record, operations: [put(keys.channelKey(tenantId, channelId), record)] }
}

export async function deleteChannel(
  db: StoreDatabase,
  tenantId: string,
  channelId: string,
): Promise<Planned<boolean>> {
  const previous = await getRecord(db, keys.channelKey(tenantId, channelId), keys.decodeChannel)
  if (previous === undefined) return { result: false, operations: [] }
  return { result: true, operations: [{ type: 'del', key: keys.channelKey(tenantId, channelId) }] }
}

export async function appendLog(
  db: StoreDatabase,
  tenantId: string,
  jobId: string,
  entry: NewJobLogEntry,
): Promise<Planned<JobLogEntry>> {
  if ((await getRecord(db, jobs.jobKey(tenantId, jobId), jobs.decodeJob)) === undefined) {
    throw jobNotFound(tenantId, jobId)
  }
  const seenKey =
    entry.nodeId === undefined || entry.nodeSeq === undefined
      ? undefined
      : jobs.jobLogSeenKey(tenantId, jobId, entry.nodeId, entry.nodeSeq)
  if (seenKey !== undefined) {
    const seen = await getRecord(db, seenKey, jobs.decodeLogSeen)
    if (seen !== undefined && seen.at === entry.at) {
      const stored = await getRecord(db, jobs.jobLogKey(tenantId, jobId, seen.seq), jobs.decodeLogEntry)
      if (stored !== undefined) return { result: stored, operations: [] }
    }
  }
  const range = layout.prefixRange(jobs.jobLogPrefix(tenantId, jobId))
  const [last] = await db.iterator({ ...range, reverse: true, limit: 1 }).all()
  const seq = last === undefined ? 1 : jobs.decodeLogEntry(last[0], last[1]).seq + 1
  if (seq > MAX_JOB_LOG_ENTRIES) throw logFull(jobId, MAX_JOB_LOG_ENTRIES)
  const stored: JobLogEntry = { seq, ...entry }
  const operations = [put(jobs.jobLogKey(tenantId, jobId, seq), stored)]
  if (seenKey !== undefined) operations.push(put(seenKey, { at: entry.at, seq }))
  return { result: stored, operations }
}

export async function listLog(
  db: StoreDatabase,
  tenantId: string,
  jobId: string,
  after: number | undefined,
  limit: number,
): Promise<JobLogEntry[]> {
  const prefix = jobs.jobLogPrefix(tenantId, jobId)
  const { lt } = layout.prefixRange(prefix)
  const range =
    after === undefined ? { gte: prefix, lt, limit } : { gt: prefix + keys.timeKey(after), lt, limit }
  const entries = await db.iterator(range).all()
  return entries.map(([key, raw]) => jobs.decodeLogEntry(key, raw))
}

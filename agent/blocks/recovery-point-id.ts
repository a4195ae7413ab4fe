/**
 * The id a connector gives the recovery point a job's COMMIT makes for one volume. It is a function
 * of the job and the volume only, so a retried job (a new attempt, a new stream) that commits the
 * same block map again names the same point: the chunk store answers it as a replay instead of
 * making a second point (blockio/chunk-store/chunk-store.ts commitPoint).
 *
 * Readable form `<jobId>.<volumeId>` when the job id has no `.` (so the split is unambiguous) and
 * the whole fits an `id` (docs/PROTOCOL.md §3.2, at most MAX_ID_LENGTH characters); otherwise
 * `pt-` and 40 hex characters of SHA-256 over `jobId`, a NUL byte and `volumeId`. The two forms
 * never collide: only the readable one contains a `.`.
 */
import { createHash } from 'node:crypto'
import { MAX_ID_LENGTH } from '../../protocol/index.js'

/** Hex characters of the hashed form: 160 bits, far beyond any chance collision. */
const HASHED_ID_HEX_LENGTH = 40

export function recoveryPointIdFor(jobId: string, volumeId: string): string {
  const readable = `${jobId}.${volumeId}`
  if (!jobId.includes('.') && readable.length <= MAX_ID_LENGTH) return readable
  const hash = createHash('sha256').update(jobId).update('\0').update(volumeId).digest('hex')
  return `pt-${hash.slice(0, HASHED_ID_HEX_LENGTH)}`
}

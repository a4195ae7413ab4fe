/**
 * Reads a closed classic-level store directly and checks that its job indexes agree with its job
 * records: the index keys present are exactly the entries `jobIndexEntries` derives from the
 * records (none missing, none left over, same values), and each volume's fencing counter is the
 * highest token any job holds for it. Used by the layout and crash tests.
 */
import { ClassicLevel } from 'classic-level'
import { expect } from 'vitest'
import type { Job } from '../../coordinator/jobs/job.js'
import * as jobs from '../../coordinator/store/level-job-layout.js'

const TENANT_INDEX = new RegExp(`^!t!![^!"]+!!(${jobs.TENANT_JOB_INDEX_NAMES.join('|')})!`)
const JOB_RECORD = /^!t!![^!"]+!!job!/
const FENCE = /^!t!!([^!"]+)!!fence!([^!"]+)$/

export interface AuditResult {
  jobs: Job[]
  /** `<tenant>/<volume>` → counter. */
  fences: Map<string, number>
}

export async function auditJobIndexes(location: string): Promise<AuditResult> {
  const db = new ClassicLevel<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  try {
    const all = await db.iterator().all()
    const records = all.filter(([key]) => JOB_RECORD.test(key)).map(([key, raw]) => jobs.decodeJob(key, raw))
    const expected = new Map<string, string>()
    for (const job of records) {
      for (const [key, value] of jobs.jobIndexEntries(job)) {
        expect(expected.has(key), `two jobs claim the index entry ${key}`).toBe(false)
        expected.set(key, value)
      }
    }
    const actual = new Map(
      all.filter(
        ([key]) =>
          TENANT_INDEX.test(key) || jobs.GLOBAL_JOB_INDEX_PREFIXES.some((prefix) => key.startsWith(prefix)),
      ),
    )
    expect(actual).toEqual(expected)
    const fences = new Map<string, number>()
    for (const [key, raw] of all) {
      const match = FENCE.exec(key)
      if (match !== null) fences.set(`${match[1]}/${match[2]}`, jobs.decodeFence(key, raw).token)
    }
    const highest = new Map<string, number>()
    for (const job of records) {
      for (const [volumeId, token] of Object.entries(job.fencingTokens)) {
        const key = `${job.tenantId}/${volumeId}`
        highest.set(key, Math.max(highest.get(key) ?? 0, token))
      }
    }
    expect(fences).toEqual(highest)
    return { jobs: records, fences }
  } finally {
    await db.close()
  }
}

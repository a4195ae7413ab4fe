// The recovery point id a COMMIT makes: a function of the job and the volume only, always an `id`.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { recoveryPointIdFor } from '../../agent/blocks/index.js'
import { ID_PATTERN, MAX_ID_LENGTH } from '../../protocol/index.js'

describe('recoveryPointIdFor', () => {
  it('is <jobId>.<volumeId> when that is unambiguous and fits an id', () => {
    expect(recoveryPointIdFor('job-1', 'disk-0')).toBe('job-1.disk-0')
    expect(recoveryPointIdFor('job-1', 'disk.0')).toBe('job-1.disk.0')
  })

  it('is a hash when the job id has a dot or the result is too long, and never collides with the readable form', () => {
    const dotted = recoveryPointIdFor('job.1', 'disk-0')
    const expected = createHash('sha256').update('job.1\0disk-0').digest('hex').slice(0, 40)
    expect(dotted).toBe(`pt-${expected}`)
    // 'job.1' + 'disk-0' and 'job' + '1.disk-0' would both read job.1.disk-0.
    expect(recoveryPointIdFor('job', '1.disk-0')).toBe('job.1.disk-0')
    expect(dotted).not.toBe('job.1.disk-0')

    const long = recoveryPointIdFor('j'.repeat(MAX_ID_LENGTH), 'v'.repeat(MAX_ID_LENGTH))
    expect(long).toMatch(/^pt-[0-9a-f]{40}$/)
    for (const id of [dotted, long, recoveryPointIdFor('a', 'b')]) {
      expect(id).toMatch(new RegExp(ID_PATTERN))
      expect(id.length).toBeLessThanOrEqual(MAX_ID_LENGTH)
    }
    expect(recoveryPointIdFor('j'.repeat(MAX_ID_LENGTH), 'v'.repeat(MAX_ID_LENGTH))).toBe(long)
  })
})

import { readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { type EnrolmentRecord, readEnrolment, writeEnrolment } from '../../agent/control/index.js'
import { Cleanup } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

const RECORD: EnrolmentRecord = {
  format: 'lifeboat-enrolment',
  version: 1,
  coordinator: '12D3KooWCoordinator',
  node: {
    nodeId: '12D3KooWNode',
    role: 'appliance',
    tenant: 'acme',
    site: 'dc1',
    name: 'host-1',
    enrolledAt: 1_700_000_000_000,
  },
}

describe('the enrolment file', () => {
  it('round-trips, owner-only, and leaves no temporary file behind', async () => {
    const dir = await cleanup.tempDir()
    const path = join(dir, 'enrolment.json')
    expect(await readEnrolment(path)).toBeUndefined()
    await writeEnrolment(path, RECORD)
    await writeEnrolment(path, { ...RECORD, node: { ...RECORD.node, name: 'host-2' } })
    expect(await readEnrolment(path)).toEqual({ ...RECORD, node: { ...RECORD.node, name: 'host-2' } })
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await readdir(dir)).toEqual(['enrolment.json'])
  })

  it('refuses a file that is not an enrolment record, naming what is wrong', async () => {
    const dir = await cleanup.tempDir()
    const path = join(dir, 'enrolment.json')
    const cases: Array<[string, RegExp]> = [
      ['{"format":', /not JSON/],
      [JSON.stringify({ ...RECORD, version: 2 }), /version/],
      [JSON.stringify({ ...RECORD, node: { ...RECORD.node, role: 'coordinator' } }), /role/],
      ['x'.repeat(70_000), /bytes long/],
    ]
    for (const [text, why] of cases) {
      await writeFile(path, text)
      const error = await readEnrolment(path).catch((reason: unknown) => reason)
      expect(error).toMatchObject({ code: 'CONTROL_ENROLMENT_CORRUPT' })
      expect((error as Error).message).toMatch(why)
    }
    await expect(writeEnrolment(join(dir, 'missing', 'enrolment.json'), RECORD)).rejects.toMatchObject({
      code: 'CONTROL_ENROLMENT_IO',
      retryable: true,
    })
  })
})

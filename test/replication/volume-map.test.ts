// The appliance's volume map (agent/replication/volume-map.ts, docs/FORMATS.md "Volume map"): a
// good map parses; every refusal is AGENT_REPLICATION_VOLUME_MAP_INVALID with a remediation and
// says what is wrong; a volume the map lacks is AGENT_REPLICATION_VOLUME_UNKNOWN (retryable: the
// operator adds it and the next retry reads the map afresh).
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  MAX_VOLUME_MAP_BYTES,
  mappedVolume,
  parseVolumeMap,
  readVolumeMap,
  VOLUME_MAP_FORMAT,
  VOLUME_MAP_VERSION,
} from '../../agent/replication/volume-map.js'

const dirs: string[] = []
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

async function mapFile(content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-volume-map-'))
  dirs.push(dir)
  const path = join(dir, 'volumes.json')
  await writeFile(path, content)
  return path
}

const good = (volumes: unknown = { disk0: { path: '/images/disk0.raw' } }) => ({
  format: VOLUME_MAP_FORMAT,
  version: VOLUME_MAP_VERSION,
  volumes,
})

function refusal(value: unknown): { code: string; message: string; remediation: string } {
  try {
    parseVolumeMap(value, 'map.json')
  } catch (error) {
    return error as { code: string; message: string; remediation: string }
  }
  throw new Error('parseVolumeMap accepted the map')
}

describe('volume map', () => {
  it('parses volumes with their paths and changed-extents files', async () => {
    const path = await mapFile(
      JSON.stringify(
        good({
          disk0: { path: '/images/disk0.raw' },
          'disk-1': { path: '/dev/sdb', changedExtents: '/var/lib/cbt/disk-1.json' },
        }),
      ),
    )
    const map = await readVolumeMap(path)
    expect([...map.volumes.entries()]).toEqual([
      ['disk0', { path: '/images/disk0.raw' }],
      ['disk-1', { path: '/dev/sdb', changedExtents: '/var/lib/cbt/disk-1.json' }],
    ])
    expect(mappedVolume(map, 'disk-1', path).path).toBe('/dev/sdb')
  })

  it.each([
    ['not an object', [], /is not a JSON object/],
    ['null', null, /is not a JSON object/],
    ['wrong format', { ...good(), format: 'other' }, /has format "other", expected "lifeboat-volume-map"/],
    ['wrong version', { ...good(), version: 2 }, /has version 2; this build reads version 1/],
    ['volumes not an object', good([]), /"volumes" must be an object/],
    ['bad volume id', good({ 'bad id!': { path: '/x' } }), /volume id "bad id!" is not a valid id/],
    ['too long volume id', good({ [`v${'x'.repeat(128)}`]: { path: '/x' } }), /is not a valid id/],
    ['entry not an object', good({ disk0: '/x' }), /volume disk0 must be an object with "path"/],
    ['no path', good({ disk0: {} }), /volume disk0 "path" must be an absolute path/],
    ['relative path', good({ disk0: { path: 'images/x.raw' } }), /"path" must be an absolute path/],
    ['empty path', good({ disk0: { path: '' } }), /"path" must be an absolute path/],
    [
      'relative extents',
      good({ disk0: { path: '/x', changedExtents: 'cbt.json' } }),
      /volume disk0 "changedExtents" must be an absolute path/,
    ],
  ])('refuses %s, coded, naming the map and the problem', (_name, value, message) => {
    const error = refusal(value)
    expect(error.code).toBe('AGENT_REPLICATION_VOLUME_MAP_INVALID')
    expect(error.message).toMatch(/^map\.json /)
    expect(error.message).toMatch(message)
    expect(error.remediation).toContain(VOLUME_MAP_FORMAT)
  })

  it('refuses a missing file, a file that is not JSON, and one over the size limit', async () => {
    const missing = join(tmpdir(), `lifeboat-no-such-map-${process.pid}.json`)
    await expect(readVolumeMap(missing)).rejects.toMatchObject({
      code: 'AGENT_REPLICATION_VOLUME_MAP_INVALID',
      message: expect.stringMatching(/cannot be read/),
    })
    await expect(readVolumeMap(await mapFile('{"format": '))).rejects.toMatchObject({
      code: 'AGENT_REPLICATION_VOLUME_MAP_INVALID',
      message: expect.stringMatching(/is not JSON/),
    })
    const big = JSON.stringify({ ...good(), padding: 'x'.repeat(MAX_VOLUME_MAP_BYTES) })
    await expect(readVolumeMap(await mapFile(big))).rejects.toMatchObject({
      code: 'AGENT_REPLICATION_VOLUME_MAP_INVALID',
      message: expect.stringMatching(/is larger than 1048576 bytes/),
    })
  })

  it('a volume the map does not list is AGENT_REPLICATION_VOLUME_UNKNOWN, retryable', () => {
    const map = parseVolumeMap(good())
    expect(() => mappedVolume(map, 'disk9', '/etc/lifeboat/volumes.json')).toThrow(
      expect.objectContaining({
        code: 'AGENT_REPLICATION_VOLUME_UNKNOWN',
        retryable: true,
        message: "volume disk9 is not in this appliance's volume map /etc/lifeboat/volumes.json",
      }),
    )
  })
})

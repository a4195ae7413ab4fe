// `lifeboat restore` as a real process against a live lab's connector (demo/replication-lab.ts):
// latest and named points restored byte-identical while the connector runs, and every refusal
// with its code and exit code: unknown VM / volume / point, a VM with several volumes and no
// --volume, an existing target without --force, a missing or wrong master key, a corrupt pack, a
// data directory that is not an enrolled connector's. Nothing is left at --out after a refusal.
import { randomBytes } from 'node:crypto'
import { chmod, cp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ReplicationLab, startReplicationLab } from '../../demo/replication-lab.js'
import { pointsOfSummary } from '../../protocol/index.js'
import { Cleanup } from '../control/helpers.js'
import { runCli } from './run-cli.js'

const BLOCK = 65_536
const cleanup = new Cleanup()
let dir: string
let lab: ReplicationLab
let connectorDir: string
let first: Buffer
let second: Buffer
let firstPoint: string

function image(): Buffer {
  const data = Buffer.alloc(24 * BLOCK + 1000)
  randomBytes(10 * BLOCK).copy(data, 0)
  randomBytes(4 * BLOCK + 1000).copy(data, 20 * BLOCK)
  return data
}

beforeAll(async () => {
  dir = await cleanup.tempDir('lifeboat-restore-cli-')
  first = image()
  const a = image()
  const b = image()
  await writeFile(join(dir, 'vm1.raw'), first)
  await writeFile(join(dir, 'a.raw'), a)
  await writeFile(join(dir, 'b.raw'), b)
  lab = await startReplicationLab({
    dir: join(dir, 'lab'),
    scanWorkers: 1,
    volumes: [
      { vmId: 'vm1', volumeId: 'disk0', path: join(dir, 'vm1.raw'), size: first.length },
      { vmId: 'vm2', volumeId: 'disk-a', path: join(dir, 'a.raw'), size: a.length },
      { vmId: 'vm2', volumeId: 'disk-b', path: join(dir, 'b.raw'), size: b.length },
    ],
  })
  cleanup.add(() => lab.stop())
  connectorDir = join(dir, 'lab', 'connector')
  firstPoint = pointsOfSummary((await lab.replicate('vm1')).result).points[0]!.pointId
  second = Buffer.from(first)
  randomBytes(BLOCK).copy(second, 5 * BLOCK)
  second.fill(0, 7 * BLOCK, 8 * BLOCK)
  await writeFile(join(dir, 'vm1.raw'), second)
  await lab.replicate('vm1')
  await lab.replicate('vm2')
}, 60_000)

afterAll(() => cleanup.run())

const restore = (...args: string[]) => runCli(['restore', '--data-dir', connectorDir, ...args], 30_000)

describe('lifeboat restore', () => {
  it('restores the latest point, verified, while the connector runs', async () => {
    const out = join(dir, 'latest.raw')
    const run = await restore('--vm', 'vm1', '--point', 'latest', '--out', out, '--verify')
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(
      /restored point pt-\S+ of vm1\/disk0 .* \d+ data blocks, \d+ zero blocks \(sparse\), verified/,
    )
    expect((await readFile(out)).equals(second)).toBe(true)
  })

  it('restores a named older point, and a chosen volume of a VM with several', async () => {
    const out = join(dir, 'first.raw')
    const run = await restore('--vm', 'vm1', '--point', firstPoint, '--out', out)
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/not verified/)
    expect((await readFile(out)).equals(first)).toBe(true)

    const outB = join(dir, 'b-restored.raw')
    const runB = await restore('--vm', 'vm2', '--volume', 'disk-b', '--point', 'latest', '--out', outB)
    expect(runB.code).toBe(0)
    expect((await readFile(outB)).equals(await readFile(join(dir, 'b.raw')))).toBe(true)
  })

  it('refuses unknown VMs, volumes and points, and a VM of several volumes without --volume', async () => {
    const out = join(dir, 'never.raw')
    const vm = await restore('--vm', 'nope', '--point', 'latest', '--out', out)
    expect(vm.code).toBe(3)
    expect(vm.stderr).toMatch(/error CLI_INPUT_UNKNOWN_VM: .*\n .*vm1, vm2/)

    const volume = await restore('--vm', 'vm1', '--volume', 'disk9', '--point', 'latest', '--out', out)
    expect(volume.code).toBe(3)
    expect(volume.stderr).toMatch(/error CLI_INPUT_UNKNOWN_VOLUME: .*\n .*disk0/)

    const point = await restore('--vm', 'vm1', '--point', 'pt-doesnotexist', '--out', out)
    expect(point.code).toBe(3)
    expect(point.stderr).toMatch(/error CLI_INPUT_UNKNOWN_POINT/)

    const several = await restore('--vm', 'vm2', '--point', 'latest', '--out', out)
    expect(several.code).toBe(2)
    expect(several.stderr).toMatch(/error CLI_USAGE_VOLUME_REQUIRED: .*\n .*disk-a, disk-b/)
    await expect(stat(out)).rejects.toThrow()
  })

  it('refuses to replace an existing file without --force, replaces it with --force', async () => {
    const out = join(dir, 'exists.raw')
    await writeFile(out, 'keep me')
    const refused = await restore('--vm', 'vm1', '--point', 'latest', '--out', out)
    expect(refused.code).toBe(4)
    expect(refused.stderr).toMatch(/error AGENT_RESTORE_TARGET_EXISTS/)
    expect(await readFile(out, 'utf8')).toBe('keep me')
    const forced = await restore('--vm', 'vm1', '--point', 'latest', '--out', out, '--force')
    expect(forced.code).toBe(0)
    expect((await readFile(out)).equals(second)).toBe(true)
  })

  it('refuses a missing or wrong master key', async () => {
    const out = join(dir, 'never.raw')
    const missing = await restore(
      '--vm',
      'vm1',
      '--point',
      'latest',
      '--out',
      out,
      '--master-key',
      join(dir, 'no.key'),
    )
    expect(missing.code).toBe(3)
    expect(missing.stderr).toMatch(/error BLOCKIO_KEY_FILE_INVALID: .*does not exist/)

    const wrongKey = join(dir, 'wrong.key')
    await writeFile(wrongKey, randomBytes(32), { mode: 0o600 })
    await chmod(wrongKey, 0o600)
    const wrong = await restore('--vm', 'vm1', '--point', 'latest', '--out', out, '--master-key', wrongKey)
    expect(wrong.code).toBe(3)
    expect(wrong.stderr).toMatch(/error BLOCKIO_KEY_INVALID/)
    await expect(stat(out)).rejects.toThrow()
  })

  it('refuses a corrupt store and leaves nothing at --out', async () => {
    // A copy of the connector's folder with every pack's bytes flipped near the end.
    const copy = join(dir, 'corrupt-connector')
    await cp(connectorDir, copy, { recursive: true })
    const packs = join(copy, 'chunks', 'tenants', 'demo', 'packs')
    const names = (await readdir(packs)).filter((n) => n.endsWith('.pack'))
    expect(names.length).toBeGreaterThan(0)
    for (const name of names) {
      const bytes = await readFile(join(packs, name))
      for (let i = 64; i < bytes.length; i += 4096) bytes[i] = bytes[i]! ^ 0xff
      await writeFile(join(packs, name), bytes)
    }
    const out = join(dir, 'corrupt.raw')
    const run = await runCli(
      ['restore', '--data-dir', copy, '--vm', 'vm1', '--point', 'latest', '--out', out],
      30_000,
    )
    expect(run.code).toBe(3)
    expect(run.stderr).toMatch(/error BLOCKIO_(CHUNK|PACK)_CORRUPT/)
    await expect(stat(out)).rejects.toThrow()
    expect((await readdir(dir)).filter((n) => n.includes('partial'))).toEqual([])
  })

  it('refuses a data directory that is not an enrolled connector, and a missing --data-dir', async () => {
    const out = join(dir, 'never.raw')
    const notEnrolled = await runCli([
      'restore',
      '--data-dir',
      join(dir, 'empty'),
      '--vm',
      'vm1',
      '--point',
      'latest',
      '--out',
      out,
    ])
    expect(notEnrolled.code).toBe(3)
    expect(notEnrolled.stderr).toMatch(/error CLI_INPUT_NOT_ENROLLED/)

    const appliance = await runCli([
      'restore',
      '--data-dir',
      join(dir, 'lab', 'appliance'),
      '--vm',
      'vm1',
      '--point',
      'latest',
      '--out',
      out,
    ])
    expect(appliance.code).toBe(3)
    expect(appliance.stderr).toMatch(/error CLI_INPUT_NOT_A_CONNECTOR/)

    const noDir = await runCli(['restore', '--vm', 'vm1', '--point', 'latest', '--out', out])
    expect(noDir.code).toBe(2)
    expect(noDir.stderr).toMatch(/error CLI_USAGE_MISSING_DATA_DIR/)

    const explicit = await runCli([
      'restore',
      '--chunk-store',
      join(connectorDir, 'chunks'),
      '--master-key',
      join(connectorDir, 'master.key'),
      '--tenant',
      'demo',
      '--vm',
      'vm1',
      '--point',
      'latest',
      '--out',
      join(dir, 'explicit.raw'),
    ])
    expect(explicit.code).toBe(0)
    expect((await readFile(join(dir, 'explicit.raw'))).equals(second)).toBe(true)
  })
})

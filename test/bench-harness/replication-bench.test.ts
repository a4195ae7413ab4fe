// Smoke test of `npm run bench:replication` (bench/replication/replication-bench.ts) on a 16 MiB
// image, one round: the real coordinator, appliance and connector processes of the built CLI
// (dist/), and the rsync daemon. It proves the harness measures all three cases, checks each
// cycle, and leaves no folder or process behind, also when a cycle fails.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { CLI_PATH } from '../../bench/replication/node-process.js'
import {
  CASES,
  formatReplicationBench,
  runReplicationBench,
} from '../../bench/replication/replication-bench.js'
import { findTool } from '../../demo/tool-lookup.js'

const MiB = 1024 * 1024
const rsync = findTool('rsync')

/** Pids of live processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(text)) pids.push(Number(name))
    } catch {
      // The process ended while we looked.
    }
  }
  return pids
}

describe.skipIf(!rsync)('replication benchmark harness', () => {
  let workDir: string
  beforeAll(() => {
    if (!existsSync(CLI_PATH))
      throw new Error(`${CLI_PATH} is missing: run \`npx tsc -p .\` before this test`)
  })
  beforeEach(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'lifeboat-replbench-test-'))
  })
  afterEach(async () => {
    await rm(workDir, { recursive: true, force: true })
  })

  it('measures seed, incremental and tracked cycles against rsync, then cleans up', async () => {
    const lines: string[] = []
    const result = await runReplicationBench({
      sizeBytes: 16 * MiB,
      runs: 1,
      workDir,
      log: (line) => lines.push(line),
    })
    expect(result.rounds).toHaveLength(1)
    const [round] = result.rounds
    // 1 % of 256 blocks.
    expect(round!.changedBlocks).toBe(3)
    for (const name of CASES) {
      const c = round!.cases[name]
      expect(c.ratio).toBeGreaterThan(0)
      expect(c.ratio).toBe(c.rsync.ms / c.lifeboat.wallMs)
      expect(c.lifeboat.applianceMs).toBeGreaterThan(0)
      expect(c.lifeboat.wallMs).toBeGreaterThanOrEqual(c.lifeboat.applianceMs)
      expect(c.scanAloneMs).toBeGreaterThan(0)
      if (existsSync('/usr/bin/time')) expect(c.scanAloneCpuSeconds).toBeGreaterThan(0)
      expect(c.lifeboat.dispatchMs).toBeGreaterThanOrEqual(0)
      expect(c.lifeboat.dispatchMs).toBeLessThan(c.lifeboat.wallMs)
      expect(c.lifeboat.applianceCpuSeconds).toBeGreaterThanOrEqual(0)
    }
    expect(round!.cases.seed.lifeboat.bytesRead).toBe(16 * MiB)
    expect(round!.cases.incremental.lifeboat.bytesRead).toBe(16 * MiB)
    expect(round!.cases.incremental.lifeboat.changedBlocks).toBe(3)
    // The tracked cycle reads only the changed extents (3 blocks, fewer runs if adjacent).
    expect(round!.cases.tracked.lifeboat.bytesRead).toBe(3 * 65536)
    expect(round!.cases.seed.rsync.sentBytes).toBeGreaterThan(16 * MiB)
    expect(round!.applianceRssBytes).toBeGreaterThan(20 * MiB)
    expect(round!.connectorRssBytes).toBeGreaterThan(20 * MiB)

    const table = formatReplicationBench(result, 'npm run bench:replication -- --size 16MiB --runs 1')
    expect(table).toContain('| (a) seed, empty target |')
    expect(table).toContain('| (c) 1 % changed, CBT extents file |')
    expect(table).toMatch(/Peak RSS \(VmHWM, whole round\): appliance \d+ MiB/)
    expect(lines.some((l) => l.includes('tracked: rsync'))).toBe(true)

    expect(await readdir(workDir)).toEqual([])
    expect(processesMentioning(workDir)).toEqual([])
  }, 90_000)

  it('stops every process and removes its folders when a cycle fails', async () => {
    await expect(
      runReplicationBench({ sizeBytes: 4 * MiB, runs: 1, workDir, jobTimeoutMs: 1 }),
    ).rejects.toMatchObject({ code: 'BENCH_CYCLE_FAILED', retryable: true })
    expect(await readdir(workDir)).toEqual([])
    expect(processesMentioning(workDir)).toEqual([])
  }, 60_000)

  it('refuses bad options before creating anything', async () => {
    await expect(runReplicationBench({ sizeBytes: 1000, workDir })).rejects.toMatchObject({
      code: 'BENCH_INVALID_OPTION',
      message: expect.stringContaining('sizeBytes'),
    })
    await expect(runReplicationBench({ runs: 0, workDir })).rejects.toMatchObject({
      code: 'BENCH_INVALID_OPTION',
      message: expect.stringContaining('runs'),
    })
    expect(await readdir(workDir)).toEqual([])
  })
})

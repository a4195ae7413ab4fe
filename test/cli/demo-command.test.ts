import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from './run-cli.js'

describe('lifeboat demo', () => {
  it('scans, edits, rescans both ways and finds the same index; keeps files only with --keep', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-demo-test-'))
    try {
      const run = await runCli(['demo', '--size', '8M', '--keep', dir])
      expect(run.code).toBe(0)
      expect(run.stdout).toMatch(/Both second scans produced the same block index/)
      expect(run.stdout).toMatch(/changed +\d+ blocks/)
      expect((await readdir(dir)).sort()).toEqual([
        'changes.json',
        'disk.img',
        'scan1.idx',
        'scan2-cbt.idx',
        'scan2-full.idx',
      ])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses a size that is too small', async () => {
    const run = await runCli(['demo', '--size', '100K'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/error CLI_USAGE_INVALID_SIZE/)
  })
})

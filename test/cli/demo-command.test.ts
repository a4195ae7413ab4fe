// `lifeboat demo` as a real process: replication end to end on a small ext4 image (or the generated
// fallback where e2fsprogs is missing), `--image` on an existing image that must stay unchanged,
// usage and input refusals, and cleanup of the temporary directory on success and on SIGINT.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { findE2fsTools } from '../../demo/ext4-image.js'
import { createGeneratedImage } from '../../demo/generated-image.js'
import { Cleanup } from '../control/helpers.js'
import { CLI, runCli } from './run-cli.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

const hasE2fs = findE2fsTools().tools !== undefined

function workingDir(stdout: string): string {
  const match = /Working directory: (\S+)/.exec(stdout)
  expect(match).not.toBeNull()
  return match![1]!
}

async function gone(path: string): Promise<boolean> {
  return stat(path).then(
    () => false,
    () => true,
  )
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex')
}

describe('lifeboat demo', () => {
  it('seeds, replicates three changes, checks, restores byte-identical and removes its directory', async () => {
    const run = await runCli(['demo', '--size', '16M'], 60_000)
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const out = run.stdout
    expect(out).toMatch(
      hasE2fs ? /Disk image: ext4 filesystem made with/ : /Disk image: generated mixed content/,
    )
    for (const name of ['seed', 'incr 1', 'incr 2', 'incr 3']) {
      expect(out).toMatch(
        new RegExp(
          `^${name} +\\S.* +\\d+ +[\\d.]+ [KM]?i?B +[\\d.]+ [KM]?i?B +([\\d.]+×|–) +[\\d.]+ s +\\d+`,
          'm',
        ),
      )
    }
    expect(out).toMatch(/Consistency check: \d+ blocks .* no problems/)
    expect(out).toMatch(/Restore of point pt-\S+: 16\.0 MiB, .*verified/)
    const [, source, copy] =
      /BLAKE3 of the image: +(\w+)\nBLAKE3 of the restore: +(\w+) +\(byte-identical\)/.exec(out) ?? []
    expect(source).toMatch(/^[0-9a-f]{64}$/)
    expect(copy).toBe(source)
    if (hasE2fs) expect(out).toMatch(/Filesystem check of the restore: clean \(e2fsck -fn exit 0\)/)
    expect(out).toMatch(/Done in [\d.]+ s: 4 recovery points, check clean, restore byte-identical/)
    expect(await gone(workingDir(out))).toBe(true)
  }, 60_000)

  it('--image replicates an existing image without changing it; --keep keeps the files', async () => {
    const dir = await cleanup.tempDir('lifeboat-demo-image-')
    const image = join(dir, 'given.raw')
    await createGeneratedImage(image, { sizeBytes: 16 * 1024 * 1024, seed: 7 })
    const before = await sha256(image)
    const { mtimeMs } = await stat(image)
    const keep = join(dir, 'work')
    const run = await runCli(['demo', '--image', image, '--keep', keep], 60_000)
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/BLAKE3 of the restore: +\w+ +\(byte-identical\)/)
    expect(run.stdout).toMatch(/^seed +initial copy/m)
    expect(run.stdout).not.toMatch(/^incr/m)
    expect(run.stdout).toMatch(/Filesystem check of the restore: not an ext4 image: skipped/)
    expect(run.stdout).toMatch(/Done in [\d.]+ s: 1 recovery point, /)
    expect(await sha256(image)).toBe(before)
    expect((await stat(image)).mtimeMs).toBe(mtimeMs)
    expect(await sha256(join(keep, 'restored.img'))).toBe(before)
    expect((await readdir(keep)).sort()).toEqual(['lab', 'restored.img'])
    // Nothing was written beside the image either (the appliance opens it with 'r' only).
    expect((await readdir(dir)).sort()).toEqual(['given.raw', 'work'])
  }, 60_000)

  it('falls back to generated content without e2fsprogs, and says why', async () => {
    const empty = await cleanup.tempDir('lifeboat-demo-no-e2fs-')
    const run = await runCli(['demo', '--size', '16M', '--e2fsprogs-dir', empty], 60_000)
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(
      /Disk image: generated mixed content instead of ext4: mkfs\.ext4, debugfs, e2fsck not found/,
    )
    expect(run.stdout).toMatch(/^incr 3 +\d+ blocks rewritten/m)
    expect(run.stdout).toMatch(/\(byte-identical\)/)
    expect(run.stdout).toMatch(/Filesystem check of the restore: not an ext4 image: skipped/)
  }, 60_000)

  it('refuses a size out of range and an image that cannot be read', async () => {
    const small = await runCli(['demo', '--size', '100K'])
    expect(small.code).toBe(2)
    expect(small.stderr).toMatch(/error CLI_USAGE_INVALID_SIZE/)
    const odd = await runCli(['demo', '--size', '16777217'])
    expect(odd.code).toBe(2)
    const dir = await cleanup.tempDir('lifeboat-demo-bad-')
    const missing = await runCli(['demo', '--image', join(dir, 'nope.raw')])
    expect(missing.code).toBe(3)
    expect(missing.stderr).toMatch(/error CLI_INPUT_IMAGE_UNREADABLE/)
    const folder = await runCli(['demo', '--image', dir])
    expect(folder.code).toBe(3)
    expect(folder.stderr).toMatch(/error CLI_INPUT_IMAGE_UNREADABLE: .*not a regular file/)
  })

  it('SIGINT stops the demo with exit code 130 and removes its directory', async () => {
    const child = spawn(process.execPath, [CLI, 'demo', '--size', '16M'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString()
      if (stdout.includes('Cycle seed:')) child.kill('SIGINT')
    })
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000)
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    clearTimeout(timer)
    expect(code).toBe(130)
    expect(stderr).toMatch(/error CLI_INTERRUPTED: interrupted by SIGINT/)
    expect(await gone(workingDir(stdout))).toBe(true)
  }, 60_000)
})

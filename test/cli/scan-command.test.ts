import { randomBytes } from 'node:crypto'
import { mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { blake3 } from '@noble/hashes/blake3.js'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readBlockIndexFile } from '../../blockio/block-index-file.js'
import { runCli } from './run-cli.js'

const BLOCK = 64 * 1024
let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lifeboat-cli-scan-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** 40 blocks: random, then 8 zero blocks, then text-like blocks, then a short last block. */
async function writeImage(path: string): Promise<Buffer> {
  const text = Buffer.from('lifeboat replicates virtual machine disks block by block. '.repeat(17_000))
  const image = Buffer.concat([
    randomBytes(16 * BLOCK),
    Buffer.alloc(8 * BLOCK),
    text.subarray(0, 15 * BLOCK),
    randomBytes(1000),
  ])
  await writeFile(path, image)
  return image
}

function lastJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>
}

describe('lifeboat scan', () => {
  it('reports a first scan and writes an index whose digests match an independent BLAKE3', async () => {
    const image = join(dir, 'disk.img')
    const bytes = await writeImage(image)
    const run = await runCli(['scan', image, '--index', join(dir, 'a.idx'), '--json', '--workers', '2'])
    expect(run.code).toBe(0)
    const result = lastJson(run.stdout) as { event: string; stats: Record<string, number>; mode: string }
    expect(result.event).toBe('result')
    expect(result.mode).toBe('first')
    expect(result.stats.blocksTotal).toBe(40)
    expect(result.stats.zeroBlocks).toBe(8)
    expect(result.stats.bytesRead).toBe(bytes.length)
    expect(result.stats.rawBlocks).toBe(17) // the 16 random blocks and the random short last block
    const index = await readBlockIndexFile(join(dir, 'a.idx'))
    for (const i of [0, 20, 30, 39]) {
      const block = bytes.subarray(i * BLOCK, Math.min(bytes.length, (i + 1) * BLOCK))
      expect(Buffer.from(index.digest(i))).toEqual(Buffer.from(blake3(block)))
    }
  })

  it('finds exactly the changed blocks against a previous index, and the same with change tracking', async () => {
    const image = join(dir, 'disk.img')
    await writeImage(image)
    expect((await runCli(['scan', image, '--index', join(dir, 'a.idx'), '--hash-only'])).code).toBe(0)
    const handle = await open(image, 'r+')
    for (const n of [3, 17, 30]) await handle.write(randomBytes(BLOCK), 0, BLOCK, n * BLOCK)
    await handle.close()
    const extents = { version: 1, extents: [3, 17, 30].map((n) => ({ start: n * BLOCK, length: BLOCK })) }
    await writeFile(join(dir, 'cbt.json'), JSON.stringify(extents))

    const full = await runCli([
      'scan',
      image,
      '--previous',
      join(dir, 'a.idx'),
      '--index',
      join(dir, 'b.idx'),
      '--json',
    ])
    expect(full.code).toBe(0)
    expect((lastJson(full.stdout) as { stats: { changedBlocks: number } }).stats.changedBlocks).toBe(3)

    const cbtArgs = [
      '--previous',
      join(dir, 'a.idx'),
      '--cbt',
      join(dir, 'cbt.json'),
      '--index',
      join(dir, 'c.idx'),
    ]
    const cbt = await runCli(['scan', image, ...cbtArgs, '--json'])
    expect(cbt.code).toBe(0)
    const stats = (lastJson(cbt.stdout) as { stats: { changedBlocks: number; blocksRead: number } }).stats
    expect(stats).toMatchObject({ changedBlocks: 3, blocksRead: 3 })
    const b = await readBlockIndexFile(join(dir, 'b.idx'))
    const c = await readBlockIndexFile(join(dir, 'c.idx'))
    expect(Buffer.from(c.digests)).toEqual(Buffer.from(b.digests))
  })

  it('prints a readable text report', async () => {
    const image = join(dir, 'disk.img')
    await writeImage(image)
    const run = await runCli(['scan', image])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/volume .*40 blocks of 64.0 KiB/)
    expect(run.stdout).toMatch(/zero +8 blocks/)
    expect(run.stdout).toMatch(/to send .* after LZ4/)
  })
})

describe('lifeboat scan refuses bad input with one clear error and a documented exit code', () => {
  it('a missing image: exit 3, BLOCKIO_SOURCE_UNREADABLE', async () => {
    const run = await runCli(['scan', join(dir, 'nope.img')])
    expect(run.code).toBe(3)
    expect(run.stderr).toMatch(/^error BLOCKIO_SOURCE_UNREADABLE: .*\n {2}\S/)
  })

  it('a corrupt previous index: exit 3, BLOCKIO_INDEX_CORRUPT, and no new index written', async () => {
    const image = join(dir, 'disk.img')
    await writeImage(image)
    await writeFile(join(dir, 'bad.idx'), randomBytes(500))
    const run = await runCli([
      'scan',
      image,
      '--previous',
      join(dir, 'bad.idx'),
      '--index',
      join(dir, 'new.idx'),
    ])
    expect(run.code).toBe(3)
    expect(run.stderr).toMatch(/error BLOCKIO_INDEX_CORRUPT/)
    expect((await readdir(dir)).sort()).toEqual(['bad.idx', 'disk.img'])
  })

  it('--cbt without --previous: exit 2', async () => {
    const run = await runCli(['scan', join(dir, 'x.img'), '--cbt', join(dir, 'c.json')])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/error CLI_USAGE_CBT_NEEDS_PREVIOUS/)
  })

  it('extents past the end of the volume: exit 3, BLOCKIO_EXTENTS_INVALID', async () => {
    const image = join(dir, 'disk.img')
    await writeImage(image)
    expect((await runCli(['scan', image, '--index', join(dir, 'a.idx'), '--hash-only'])).code).toBe(0)
    await writeFile(
      join(dir, 'cbt.json'),
      JSON.stringify({ version: 1, extents: [{ start: 100 * BLOCK, length: BLOCK }] }),
    )
    const run = await runCli([
      'scan',
      image,
      '--previous',
      join(dir, 'a.idx'),
      '--cbt',
      join(dir, 'cbt.json'),
    ])
    expect(run.code).toBe(3)
    expect(run.stderr).toMatch(/error BLOCKIO_EXTENTS_INVALID/)
  })

  it('bad sizes and worker counts: exit 2, naming the option; JSON errors with --json', async () => {
    const image = join(dir, 'disk.img')
    await writeImage(image)
    const size = await runCli(['scan', image, '--block-size', '3K'])
    expect(size.code).toBe(2)
    expect(size.stderr).toMatch(/block size/)
    const workers = await runCli(['scan', image, '--workers', 'two', '--json'])
    expect(workers.code).toBe(2)
    expect(lastJson(workers.stdout)).toMatchObject({ event: 'error', code: 'CLI_USAGE_INVALID_WORKERS' })
  })

  it('an unknown option: exit 2 with usage help', async () => {
    const run = await runCli(['scan', 'x.img', '--frobnicate'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/unknown option/)
  })
})

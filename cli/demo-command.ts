/**
 * `lifeboat demo` (what `npm start` runs): shows the appliance's scan on a real file, end to end.
 * It writes a sample disk image of mixed content, scans it (the first, full index), rewrites 1 % of
 * its blocks and zeroes a few more, then scans again twice — once reading everything and diffing
 * against the first index, once reading only the change-tracking extents of the edits — checks
 * that both give the same new index, and prints the three reports. Everything lives in a
 * temporary directory removed at the end unless `--keep` names one.
 */
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createMixedPool,
  createPrng,
  MIXED_BLOCK_SIZE,
  mixedBlock,
  writeMixedImage,
} from '../bench/mixed-content.js'
import { encodeBlockIndex, readBlockIndexFile } from '../blockio/block-index-file.js'
import { LifeboatError } from '../protocol/errors.js'
import { formatScanReport, scanImage } from './scan-command.js'
import { formatBytes, parseSize } from './sizes.js'

/** Share of blocks the demo rewrites between scans. */
export const DEMO_CHANGED_SHARE = 0.01
/** Blocks the demo overwrites with zeros between scans (a freed file, a TRIM). */
export const DEMO_ZEROED_BLOCKS = 8
const MIN_DEMO_SIZE = 4 * 1024 * 1024

interface DemoOptions {
  size: string
  keep?: string
}

/** Rewrites ~1 % of the blocks with new content and zeroes a few; returns the byte extents touched. */
async function editImage(path: string, blocks: number): Promise<Array<{ start: number; length: number }>> {
  const next = createPrng(20261122)
  const pool = createMixedPool(99)
  const touched = new Set<number>()
  const rewrite = Math.max(1, Math.round(blocks * DEMO_CHANGED_SHARE))
  while (touched.size < Math.min(blocks, rewrite + DEMO_ZEROED_BLOCKS)) touched.add(next() % blocks)
  const handle = await open(path, 'r+')
  try {
    const block = new Uint8Array(MIXED_BLOCK_SIZE)
    let k = 0
    for (const n of [...touched].sort((a, b) => a - b)) {
      if (k++ < DEMO_ZEROED_BLOCKS) block.fill(0)
      else mixedBlock(pool, n, 99, block)
      await handle.write(block, 0, block.length, n * MIXED_BLOCK_SIZE)
    }
  } finally {
    await handle.close()
  }
  return [...touched]
    .sort((a, b) => a - b)
    .map((n) => ({ start: n * MIXED_BLOCK_SIZE, length: MIXED_BLOCK_SIZE }))
}

export async function runDemo(options: DemoOptions, signal?: AbortSignal): Promise<void> {
  const size = parseSize(options.size, '--size')
  if (size < MIN_DEMO_SIZE || size % MIXED_BLOCK_SIZE !== 0) {
    throw new LifeboatError('CLI_USAGE_INVALID_SIZE', `--size ${options.size} is not usable for the demo`, {
      remediation: 'Give a multiple of 64K of at least 4M, e.g. --size 256M.',
    })
  }
  const dir = options.keep ?? (await mkdtemp(join(tmpdir(), 'lifeboat-demo-')))
  if (options.keep !== undefined) await mkdir(dir, { recursive: true })
  const image = join(dir, 'disk.img')
  const say = (line: string) => process.stdout.write(`${line}\n`)
  try {
    say(`Lifeboat demo — the appliance's scan on a ${formatBytes(size)} disk image (${dir})\n`)
    say('1. Writing a sample disk image of mixed content (text, binaries, compressed data, free space)…')
    await writeMixedImage(image, size, 1)
    say('\n2. First scan: every block is hashed with BLAKE3 and the non-zero ones LZ4-compressed.\n')
    say(formatScanReport(await scanImage(image, { index: join(dir, 'scan1.idx') }, signal)))

    const extents = await editImage(image, size / MIXED_BLOCK_SIZE)
    const extentsPath = join(dir, 'changes.json')
    await writeFile(extentsPath, JSON.stringify({ version: 1, volumeSize: size, extents }))
    say(
      `\n3. The VM writes: ${extents.length - DEMO_ZEROED_BLOCKS} blocks rewritten, ${DEMO_ZEROED_BLOCKS} zeroed.`,
    )

    say('\n4. Second scan, reading the whole image and diffing against the first index:\n')
    say(
      formatScanReport(
        await scanImage(
          image,
          { previous: join(dir, 'scan1.idx'), index: join(dir, 'scan2-full.idx') },
          signal,
        ),
      ),
    )
    say('\n5. The same scan with the hypervisor’s change tracking: only the changed extents are read:\n')
    say(
      formatScanReport(
        await scanImage(
          image,
          { previous: join(dir, 'scan1.idx'), cbt: extentsPath, index: join(dir, 'scan2-cbt.idx') },
          signal,
        ),
      ),
    )
    const full = encodeBlockIndex(await readBlockIndexFile(join(dir, 'scan2-full.idx')))
    const cbt = encodeBlockIndex(await readBlockIndexFile(join(dir, 'scan2-cbt.idx')))
    const same = Buffer.from(full).equals(cbt)
    say(`\n6. Both second scans produced ${same ? 'the same' : 'DIFFERENT'} block index.`)
    if (!same) {
      throw new LifeboatError('CLI_DEMO_MISMATCH', 'the change-tracking scan disagrees with the full scan', {
        remediation: 'This is a bug in Lifeboat: report it with the demo directory (run with --keep).',
      })
    }
    if (options.keep !== undefined) say(`\nImage, extents and indexes kept in ${dir}.`)
  } finally {
    if (options.keep === undefined) await rm(dir, { recursive: true, force: true })
  }
}

/**
 * `lifeboat scan <image>`: hashes every block of a raw image or block device (or, with `--cbt`, only
 * the blocks a change-tracking extent list names), diffs them against the previous index, LZ4-
 * compresses the changed blocks unless `--hash-only`, optionally writes the new index, and reports
 * what it found. The scan is what a replication cycle does before it sends anything.
 */

import { availableParallelism } from 'node:os'
import { type ScanStats, scanVolume } from '../agent/scan/scan-pipeline.js'
import { BlockFlag } from '../blockio/block-flags.js'
import { readBlockIndexFile, writeBlockIndexFile } from '../blockio/block-index-file.js'
import type { BlockSource } from '../blockio/block-source.js'
import { blockLength, DEFAULT_BLOCK_SIZE } from '../blockio/block-source.js'
import { readChangedExtentsFile } from '../blockio/extents.js'
import { openFileBlockSource } from '../blockio/file-block-source.js'
import { LifeboatError } from '../protocol/errors.js'
import { peakRssBytes } from './peak-rss.js'
import { createProgress } from './progress.js'
import { formatBytes, parseSize } from './sizes.js'

export interface ScanCommandOptions {
  index?: string
  previous?: string
  cbt?: string
  blockSize?: string
  hashOnly?: boolean
  workers?: string
  json?: boolean
}

export interface ScanReport {
  image: string
  volumeSize: number
  blockSize: number
  mode: 'first' | 'diff' | 'cbt'
  compressed: boolean
  workers: number
  stats: ScanStats
  /** Bytes of the changed non-zero blocks, before compression. */
  changedBytes: number
  indexWritten?: string
  mbPerSec: number
  peakRssBytes: number
}

function parseWorkers(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) {
    throw new LifeboatError('CLI_USAGE_INVALID_WORKERS', `--workers "${text}" is not a positive integer`, {
      remediation: 'Give --workers as a whole number ≥ 1, or leave it out to use one per core.',
    })
  }
  return n
}

export async function scanImage(
  image: string,
  options: ScanCommandOptions,
  signal?: AbortSignal,
): Promise<ScanReport> {
  if (options.cbt !== undefined && options.previous === undefined) {
    throw new LifeboatError('CLI_USAGE_CBT_NEEDS_PREVIOUS', '--cbt needs --previous', {
      remediation:
        'Change-tracking extents say what changed since a scan: pass that scan’s index with --previous.',
    })
  }
  const workers = parseWorkers(options.workers)
  const previous = options.previous === undefined ? undefined : await readBlockIndexFile(options.previous)
  const requested = options.blockSize === undefined ? undefined : parseSize(options.blockSize, '--block-size')
  if (previous !== undefined && requested !== undefined && requested !== previous.blockSize) {
    throw new LifeboatError(
      'CLI_USAGE_BLOCK_SIZE_MISMATCH',
      `--block-size ${requested} differs from the previous index's block size ${previous.blockSize}`,
      { remediation: 'Leave out --block-size to use the previous index’s, or scan without --previous.' },
    )
  }
  const blockSize = requested ?? previous?.blockSize ?? DEFAULT_BLOCK_SIZE
  const source: BlockSource = await openFileBlockSource(image, { blockSize })
  try {
    const changed =
      options.cbt === undefined
        ? undefined
        : await readChangedExtentsFile(options.cbt, { volumeSize: source.size, blockSize })
    const compress = options.hashOnly !== true
    const progress = createProgress({ label: 'scan', total: source.size, json: options.json === true })
    const scan = scanVolume(source, {
      previous,
      changed,
      compress,
      workers,
      signal,
      onProgress: (done) => progress.update(done),
    })
    // Bytes of the blocks that must be sent (changed, not zero): the compression ratio's numerator.
    let changedBytes = 0
    try {
      for await (const batch of scan.batches()) {
        let k = 0
        for (const run of batch.runs) {
          for (let i = run.first; i < run.first + run.count; i++, k++) {
            const flags = batch.flags[k]!
            if ((flags & BlockFlag.CHANGED) !== 0 && (flags & BlockFlag.ZERO) === 0) {
              changedBytes += blockLength(source.size, blockSize, i)
            }
          }
        }
      }
    } finally {
      progress.stop()
    }
    const { index, stats } = scan
    if (options.index !== undefined) await writeBlockIndexFile(options.index, index)
    return {
      image,
      volumeSize: source.size,
      blockSize,
      mode: changed !== undefined ? 'cbt' : previous !== undefined ? 'diff' : 'first',
      compressed: compress,
      workers: workers ?? availableParallelism(),
      stats,
      changedBytes,
      indexWritten: options.index,
      mbPerSec: stats.durationMs > 0 ? stats.bytesRead / 1e6 / (stats.durationMs / 1e3) : 0,
      peakRssBytes: peakRssBytes(),
    }
  } finally {
    await source.close()
  }
}

/** The human form of a scan report, one fact per line. */
export function formatScanReport(r: ScanReport): string {
  const s = r.stats
  const pct = (n: number, of: number) =>
    of === 0 ? '0' : ((100 * n) / of).toFixed(n === 0 || n === of ? 0 : 2)
  const modes = {
    first: 'first scan (no previous index): every non-zero block counts as changed',
    diff: 'full read, diffed against the previous index',
    cbt: 'change tracking: only the blocks named by the extents were read',
  }
  const lines = [
    `volume     ${r.image}: ${formatBytes(r.volumeSize)}, ${s.blocksTotal} blocks of ${formatBytes(r.blockSize)}`,
    `mode       ${modes[r.mode]}`,
    `read       ${s.blocksRead} blocks, ${formatBytes(s.bytesRead)} in ${(s.durationMs / 1e3).toFixed(2)} s (${r.mbPerSec.toFixed(0)} MB/s)`,
    `changed    ${s.changedBlocks} blocks (${pct(s.changedBlocks, s.blocksTotal)} % of the volume), ${formatBytes(r.changedBytes)} of data`,
    `zero       ${s.zeroBlocks} blocks (never sent)`,
  ]
  if (r.compressed) {
    const ratio = s.payloadBytes > 0 ? (r.changedBytes / s.payloadBytes).toFixed(2) : '-'
    lines.push(
      `to send    ${formatBytes(s.payloadBytes)} after LZ4 (ratio ${ratio}:1); ${s.rawBlocks} blocks did not shrink and go raw`,
    )
  } else {
    lines.push('to send    not computed (--hash-only)')
  }
  lines.push(`hashing    BLAKE3 ${s.blake3 ?? '-'} on ${r.workers} worker threads`)
  if (r.indexWritten !== undefined) lines.push(`index      written to ${r.indexWritten}`)
  lines.push(`peak RSS   ${formatBytes(r.peakRssBytes)}`)
  return lines.join('\n')
}

/**
 * The appliance's scan side by side with its peers, in one run, on images in the page cache:
 * - hash only: `lifeboat scan --hash-only` vs `b3sum --num-threads 2` on a 2 GiB mixed image;
 * - hash + compress: `lifeboat scan` (every non-zero block LZ4-compressed) vs `lz4 -1` on the same;
 * - memory: peak RSS of `lifeboat scan` on that image and on a 20 GiB sparse image.
 * Runs are interleaved (peer, lifeboat, peer, …) so a noisy neighbour slows both alike; each
 * comparison reports the median of each side and the median of the per-round ratios.
 * Targets (issue "Foundation" §5): hash ≥ 0.8× b3sum, compress ≥ 1.5× lz4 -1, RSS ≤ 256 MiB.
 */
import { mkdir, open, rm } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createMixedPool, MIXED_BLOCK_SIZE, mixedBlock, writeMixedImage } from './mixed-content.js'
import { ensureCommands, median, timeCommand } from './peer-tools.js'

const GiB = 1024 ** 3
const MiB = 1024 ** 2
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url))

export interface ScanBenchOptions {
  workDir: string
  imageBytes?: number
  sparseBytes?: number
  runs?: number
  log?: (line: string) => void
}

export interface Comparison {
  name: string
  peer: string
  lifeboatMBps: number
  peerMBps: number
  ratio: number
  target: number
}

export interface ScanBenchResult {
  imageBytes: number
  sparseBytes: number
  runs: number
  cores: number
  comparisons: Comparison[]
  peakRssMixed: number
  peakRssSparse: number
  compressionRatio: number
}

interface ScanJson {
  stats: { bytesRead: number; payloadBytes: number }
  changedBytes: number
  peakRssBytes: number
}

async function lifeboatScan(image: string, extra: string[]): Promise<{ ms: number; result: ScanJson }> {
  const run = await timeCommand(process.execPath, [CLI, 'scan', image, '--json', ...extra])
  const last = run.stdout.trim().split('\n').at(-1)!
  return { ms: run.ms, result: JSON.parse(last) as ScanJson }
}

/** A sparse image: holes everywhere but 1 % of its blocks, spread evenly, of mixed content. */
async function writeSparseImage(path: string, size: number): Promise<void> {
  const handle = await open(path, 'w')
  try {
    await handle.truncate(size)
    const pool = createMixedPool(3)
    const block = new Uint8Array(MIXED_BLOCK_SIZE)
    const blocks = size / MIXED_BLOCK_SIZE
    for (let n = 0; n < blocks; n += 100) {
      mixedBlock(pool, n, 3, block)
      await handle.write(block, 0, block.length, n * MIXED_BLOCK_SIZE)
    }
  } finally {
    await handle.close()
  }
}

export async function runScanBench(options: ScanBenchOptions): Promise<ScanBenchResult> {
  const log = options.log ?? console.log
  const imageBytes = options.imageBytes ?? 2 * GiB
  const sparseBytes = options.sparseBytes ?? 20 * GiB
  const runs = options.runs ?? 3
  const missing = ensureCommands({ b3sum: 'b3sum', lz4: 'lz4' }, log)
  await mkdir(options.workDir, { recursive: true })
  const image = join(options.workDir, 'mixed.img')
  const sparse = join(options.workDir, 'sparse.img')
  try {
    log(`writing a ${imageBytes / GiB} GiB mixed image and a ${sparseBytes / GiB} GiB sparse image…`)
    await writeMixedImage(image, imageBytes, 1)
    await writeSparseImage(sparse, sparseBytes)
    // Into the page cache, so every run reads from memory alike.
    await timeCommand('cat', [image, '>', '/dev/null'], { shell: true })

    const hash = { lifeboat: [] as number[], peer: [] as number[], ratio: [] as number[] }
    const comp = { lifeboat: [] as number[], peer: [] as number[], ratio: [] as number[] }
    let rssMixed = 0
    let compressionRatio = 0
    const mbps = (ms: number) => imageBytes / 1e6 / (ms / 1e3)
    for (let round = 1; round <= runs; round++) {
      if (!missing.includes('b3sum')) {
        const peer = await timeCommand('b3sum', ['--num-threads', '2', image])
        const ours = await lifeboatScan(image, ['--hash-only'])
        hash.peer.push(mbps(peer.ms))
        hash.lifeboat.push(mbps(ours.ms))
        hash.ratio.push(peer.ms / ours.ms)
        rssMixed = Math.max(rssMixed, ours.result.peakRssBytes)
      }
      if (!missing.includes('lz4')) {
        const peer = await timeCommand('lz4', ['-1', '-q', '-c', image, '>', '/dev/null'], { shell: true })
        const ours = await lifeboatScan(image, [])
        comp.peer.push(mbps(peer.ms))
        comp.lifeboat.push(mbps(ours.ms))
        comp.ratio.push(peer.ms / ours.ms)
        rssMixed = Math.max(rssMixed, ours.result.peakRssBytes)
        compressionRatio = ours.result.changedBytes / ours.result.stats.payloadBytes
      }
      log(`  round ${round}/${runs} done`)
    }
    const sparseRun = await lifeboatScan(sparse, [])
    const comparisons: Comparison[] = []
    if (hash.ratio.length > 0) {
      comparisons.push({
        name: 'hash only (BLAKE3 of every 64 KiB block)',
        peer: 'b3sum --num-threads 2',
        lifeboatMBps: median(hash.lifeboat),
        peerMBps: median(hash.peer),
        ratio: median(hash.ratio),
        target: 0.8,
      })
    }
    if (comp.ratio.length > 0) {
      comparisons.push({
        name: 'hash + LZ4 (every non-zero block)',
        peer: 'lz4 -1',
        lifeboatMBps: median(comp.lifeboat),
        peerMBps: median(comp.peer),
        ratio: median(comp.ratio),
        target: 1.5,
      })
    }
    for (const cmd of missing)
      log(`  ${cmd} is missing and could not be installed: its comparison was skipped`)
    return {
      imageBytes,
      sparseBytes,
      runs,
      cores: availableParallelism(),
      comparisons,
      peakRssMixed: rssMixed,
      peakRssSparse: sparseRun.result.peakRssBytes,
      compressionRatio,
    }
  } finally {
    await rm(image, { force: true })
    await rm(sparse, { force: true })
  }
}

export function formatScanBench(r: ScanBenchResult): string {
  const lines = [
    `| comparison | Lifeboat MB/s | peer | peer MB/s | ratio (median of rounds) | target |`,
    `|---|---|---|---|---|---|`,
  ]
  for (const c of r.comparisons) {
    const ok = c.ratio >= c.target ? 'met' : 'NOT met'
    lines.push(
      `| ${c.name} | ${c.lifeboatMBps.toFixed(0)} | \`${c.peer}\` | ${c.peerMBps.toFixed(0)} | **${c.ratio.toFixed(2)}×** | ≥ ${c.target}× (${ok}) |`,
    )
  }
  lines.push('')
  lines.push(
    `Peak RSS of \`lifeboat scan\`: ${(r.peakRssMixed / MiB).toFixed(0)} MiB on the ${r.imageBytes / GiB} GiB mixed image, ` +
      `${(r.peakRssSparse / MiB).toFixed(0)} MiB on the ${r.sparseBytes / GiB} GiB sparse image (target ≤ 256 MiB). ` +
      `LZ4 ratio of the mixed image's non-zero blocks: ${r.compressionRatio.toFixed(2)}:1. ` +
      `${r.runs} interleaved rounds on ${r.cores} cores.`,
  )
  return lines.join('\n')
}

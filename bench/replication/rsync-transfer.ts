/**
 * The two rsync runs the replication benchmark compares Lifeboat with, each timed by its wall
 * clock and followed (outside the timing) by a byte-for-byte comparison of the target with the
 * image:
 *
 * - *seed*: the image copied to a module that does not hold it yet (a previous copy is deleted
 *   first), `rsync --stats <image> rsync://…/<name>`;
 * - *incremental*: the image sent over the previous version the module holds, with rsync's delta
 *   algorithm at Lifeboat's block size: `rsync --inplace --no-whole-file -B 65536 --ignore-times`.
 *   `--ignore-times` makes rsync compare content even when size and modification time agree (a
 *   block changed within the same second), as Lifeboat's full-hash cycle does.
 */
import { open, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { runTool } from '../../demo/run-tool.js'
import { BenchError, BenchErrorCode, benchIoError, invalidBenchOption, rsyncFailed } from './bench-errors.js'
import type { RsyncDaemon } from './rsync-daemon.js'

/** Time limit of one transfer: generous for 2 GiB on a loaded machine. */
export const RSYNC_TRANSFER_TIMEOUT_MS = 30 * 60_000
/** Block size of the incremental run, the same as Lifeboat's. */
export const RSYNC_BLOCK_SIZE = 65536
const COMPARE_CHUNK = 4 * 1024 * 1024

export interface RsyncTransferOptions {
  /** Name of the copy in the module; default: "image.raw". */
  name?: string
  /** Default RSYNC_TRANSFER_TIMEOUT_MS. */
  timeoutMs?: number
}

export interface RsyncTransfer {
  /** Wall-clock milliseconds of the rsync run alone (not the comparison). */
  ms: number
  /** Size of the image. */
  bytes: number
  /** What rsync reports in --stats: bytes it sent and received over the connection. */
  sentBytes: number
  receivedBytes: number
  /** The copy in the module's folder, checked byte-identical to the image. */
  target: string
}

/** Copies `image` into the daemon's module, where no copy may remain from before. */
export async function rsyncSeed(
  image: string,
  daemon: RsyncDaemon,
  options: RsyncTransferOptions = {},
): Promise<RsyncTransfer> {
  const target = targetOf(daemon, options)
  await rm(target, { force: true }).catch((cause) => {
    throw benchIoError(`the previous copy ${target} could not be removed`, cause)
  })
  return transfer(image, daemon, target, ['--stats'], 'seed', options)
}

/** Sends `image` over the previous version in the module with rsync's delta algorithm. */
export async function rsyncIncremental(
  image: string,
  daemon: RsyncDaemon,
  options: RsyncTransferOptions = {},
): Promise<RsyncTransfer> {
  const target = targetOf(daemon, options)
  const previous = await stat(target).catch(() => undefined)
  if (!previous?.isFile()) {
    throw invalidBenchOption('daemon', `holds no previous version at ${target}; run rsyncSeed first`)
  }
  const args = ['--stats', '--inplace', '--no-whole-file', '-B', String(RSYNC_BLOCK_SIZE), '--ignore-times']
  return transfer(image, daemon, target, args, 'incremental', options)
}

function targetOf(daemon: RsyncDaemon, options: RsyncTransferOptions): string {
  const name = options.name ?? 'image.raw'
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name)) {
    throw invalidBenchOption('name', `${JSON.stringify(name)} is not a plain file name`)
  }
  return join(daemon.dir, name)
}

async function transfer(
  image: string,
  daemon: RsyncDaemon,
  target: string,
  args: string[],
  kind: string,
  options: RsyncTransferOptions,
): Promise<RsyncTransfer> {
  const info = await stat(image).catch((cause) => {
    throw benchIoError(`the image ${image} could not be read`, cause)
  })
  const name = target.slice(daemon.dir.length).replace(/^\/+/, '')
  const timeoutMs = options.timeoutMs ?? RSYNC_TRANSFER_TIMEOUT_MS
  const run = await runTool(daemon.rsync, [...args, image, `${daemon.url}${name}`], { timeoutMs }).catch(
    (cause) => {
      throw rsyncFailed(
        `rsync could not be started: ${cause instanceof Error ? cause.message : String(cause)}`,
        false,
        cause,
      )
    },
  )
  if (run.timedOut || run.code !== 0) {
    const ending = run.timedOut
      ? `timed out after ${timeoutMs} ms`
      : `exited with ${run.signal ?? `code ${run.code}`}`
    const detail = run.stderr.trim().split('\n').slice(-5).join(' | ')
    throw rsyncFailed(
      `rsync ${kind} of ${image} to ${daemon.url} ${ending}${detail ? `: ${detail}` : ''}`,
      run.timedOut,
    )
  }
  if (!(await sameBytes(image, target))) {
    throw new BenchError(
      BenchErrorCode.TARGET_MISMATCH,
      `after the rsync ${kind}, ${target} differs from ${image}`,
      {
        remediation:
          'Make sure nothing else writes the image or the target during the benchmark, then run it again.',
      },
    )
  }
  return {
    ms: run.ms,
    bytes: info.size,
    sentBytes: statOf(run.stdout, 'Total bytes sent'),
    receivedBytes: statOf(run.stdout, 'Total bytes received'),
    target,
  }
}

/** A number from rsync's --stats, e.g. `Total bytes sent: 8,390,123` (NaN when absent). */
export function statOf(stdout: string, label: string): number {
  const match = new RegExp(`^${label}: ([\\d,.]+)`, 'm').exec(stdout)
  return match ? Number(match[1]!.replace(/[,.]/g, '')) : Number.NaN
}

/** True when both files have the same size and bytes. */
export async function sameBytes(a: string, b: string): Promise<boolean> {
  const first = await open(a, 'r').catch((cause) => {
    throw benchIoError(`${a} could not be opened for comparison`, cause)
  })
  const second = await open(b, 'r').catch(async (cause) => {
    await first.close()
    throw benchIoError(`${b} could not be opened for comparison`, cause)
  })
  try {
    const [sizeA, sizeB] = [(await first.stat()).size, (await second.stat()).size]
    if (sizeA !== sizeB) return false
    const bufA = Buffer.alloc(COMPARE_CHUNK)
    const bufB = Buffer.alloc(COMPARE_CHUNK)
    for (let at = 0; at < sizeA; at += COMPARE_CHUNK) {
      const length = Math.min(COMPARE_CHUNK, sizeA - at)
      await Promise.all([first.read(bufA, 0, length, at), second.read(bufB, 0, length, at)])
      if (bufA.compare(bufB, 0, length, 0, length) !== 0) return false
    }
    return true
  } finally {
    await Promise.all([first.close(), second.close()])
  }
}

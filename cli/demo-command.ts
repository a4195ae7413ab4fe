/**
 * `lifeboat demo` (what `npm start` runs): replication end to end on this machine. In a temporary
 * directory it starts a *lab* (demo/replication-lab.ts: a coordinator on its embedded store, an
 * appliance and a connector on loopback), makes a disk image (a real ext4 filesystem with files,
 * or generated content where e2fsprogs is missing, demo/demo-image.ts), runs the initial *seed*
 * cycle and three *incremental* cycles with file changes between them, a consistency check, then
 * restores the newest recovery point with verification and proves it byte-identical to the image
 * (BLAKE3 of both files) and, for ext4, clean under `e2fsck -fn`. It ends with a table per cycle.
 *
 * `lifeboat demo --image <path>` does the same for an existing raw image, without changing it: one
 * seed cycle (the appliance only reads the image), the check, the restore and the comparison.
 *
 * Words: a *cycle* is one replication-cycle job; *sent* is the payload on the wire after LZ4
 * (`payloadBytes`); the *ratio* is the plain size of the blocks sent over what was sent. The
 * temporary directory is removed at the end, on failure and on SIGINT, unless `--keep` names one.
 */
import { closeSync, openSync, readSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Blake3Hasher } from '@napi-rs/blake-hash'
import type { Job } from '../coordinator/jobs/job.js'
import type { DemoImage } from '../demo/demo-image.js'
import type { ReplicationLab } from '../demo/replication-lab.js'
import { LifeboatError } from '../protocol/errors.js'
import { createProgress } from './progress.js'
import { restoreProgress } from './restore-command.js'
import { formatBytes, parseSize } from './sizes.js'

/** The demo's VM and its one volume. */
export const DEMO_VM = 'demo-vm'
export const DEMO_VOLUME = 'disk0'
/** Incremental cycles after the seed. */
export const DEMO_INCREMENTAL_CYCLES = 3
const MiB = 1024 * 1024
const READ_CHUNK = 4 * MiB
/** Where an ext4 superblock's magic number (0xEF53, little-endian) sits in a raw image. */
const EXT4_MAGIC_OFFSET = 1024 + 56

export interface DemoOptions {
  /** Size of the made image (not with `image`). */
  size: string
  /** An existing raw image to replicate instead of a made one; never written. */
  image?: string
  /** Keep the working files here instead of a removed temporary directory. */
  keep?: string
  /** Hidden, for tests: look for e2fsprogs only in this folder (an empty one forces the fallback). */
  e2fsprogsDir?: string
}

/** One cycle's figures from its job's RESULT summary. */
export interface CycleRow {
  name: string
  changes: string
  changedBlocks: number
  bytesRead: number
  payloadBytes: number
  plainBytesSent: number
  heldRecords: number
  durationMs: number
  pointId: string
}

export async function runDemo(options: DemoOptions, signal?: AbortSignal): Promise<void> {
  const given = options.image === undefined ? undefined : resolve(options.image)
  const size = given === undefined ? await demoSize(options.size) : await existingImageSize(given)
  const dir =
    options.keep === undefined ? await mkdtemp(join(tmpdir(), 'lifeboat-demo-')) : resolve(options.keep)
  // A second SIGINT exits at once (cli/main.ts): the temporary directory still goes.
  const removeOnExit = () => rmSync(dir, { recursive: true, force: true })
  if (options.keep === undefined) process.once('exit', removeOnExit)
  else await mkdir(dir, { recursive: true })
  const say = (line = '') => process.stdout.write(`${line}\n`)
  let lab: ReplicationLab | undefined
  try {
    const started = Date.now()
    say(
      given === undefined
        ? `Lifeboat demo: replicating a ${formatBytes(size)} disk image end to end on loopback`
        : `Lifeboat demo: replicating ${given} (${formatBytes(size)}, read only) end to end on loopback`,
    )
    say(`Working directory: ${dir}${options.keep === undefined ? ' (removed at the end)' : ''}`)
    say()

    let image: DemoImage | undefined
    let imagePath: string
    let ext4: boolean
    if (given === undefined) {
      const { createDemoImage } = await import('../demo/demo-image.js')
      imagePath = join(dir, 'disk.img')
      image = await step('making the disk image', signal, () =>
        createDemoImage(imagePath, {
          sizeBytes: size,
          seed: 1,
          tempRoot: dir,
          toolDirs: options.e2fsprogsDir === undefined ? undefined : [options.e2fsprogsDir],
        }),
      )
      say(`Disk image: ${image.reason}.`)
      ext4 = image.kind === 'ext4'
    } else {
      imagePath = given
      ext4 = await looksLikeExt4(given)
      say(`Disk image: ${given}${ext4 ? ' (an ext4 filesystem)' : ''}; the appliance opens it read-only.`)
    }

    const { LAB_TENANT, startReplicationLab } = await import('../demo/replication-lab.js')
    const { pino } = await import('pino')
    const logger = pino({ level: 'error', base: { name: 'lifeboat-demo' } }, pino.destination(2))
    lab = await step('starting a coordinator, an appliance and a connector on 127.0.0.1', signal, () =>
      startReplicationLab({
        dir: join(dir, 'lab'),
        volumes: [{ vmId: DEMO_VM, volumeId: DEMO_VOLUME, path: imagePath, size }],
        logger,
      }),
    )
    const l = lab
    say('Coordinator, appliance and connector running on 127.0.0.1 (enrolled with one-time tokens).')
    say()

    const rows: CycleRow[] = []
    const cycle = async (name: string, changes: string): Promise<CycleRow> => {
      const t0 = Date.now()
      const job = await step(`cycle ${name}`, signal, () => l.replicate(DEMO_VM))
      const row = cycleRow(name, changes, job, Date.now() - t0)
      rows.push(row)
      say(
        `Cycle ${name}: ${row.changedBlocks} changed blocks, ${formatBytes(row.payloadBytes)} sent, point ${row.pointId}`,
      )
      return row
    }
    await cycle('seed', 'initial copy')
    if (image !== undefined) {
      const { changeDemoImage } = await import('../demo/demo-image.js')
      const made = image
      for (let round = 1; round <= DEMO_INCREMENTAL_CYCLES; round++) {
        const change = await step(`changing files (round ${round})`, signal, () =>
          changeDemoImage(made, round, { tempRoot: dir }),
        )
        const changes =
          change.kind === 'ext4'
            ? `${change.changes.modified.length} edited, ${change.changes.added.length} added, ${change.changes.deleted.length} deleted files`
            : `${change.mutation.blocks.length} blocks rewritten`
        await cycle(`incr ${round}`, changes)
      }
    }

    const checkJob = await step('consistency check', signal, () => l.check(DEMO_VM))
    const check = checkJob.result ?? {}
    const problems = Number(check.problems ?? Number.NaN)
    if (checkJob.state !== 'succeeded' || problems !== 0) {
      throw new LifeboatError(
        'CLI_DEMO_CHECK_FAILED',
        `the consistency check ${checkJob.state}: ${checkJob.error?.message ?? `${check.problems} problems`}`,
        { remediation: 'This is a bug in Lifeboat: report it with the working directory (run with --keep).' },
      )
    }
    say(
      `Consistency check: ${check.blocksChecked} blocks (${formatBytes(Number(check.bytesChecked))}) read back from the store, decrypted, decompressed and hashed: no problems.`,
    )

    const latest = rows[rows.length - 1]!
    const restoredPath = join(dir, 'restored.img')
    const { restorePoint } = await import('../agent/replication/restore-point.js')
    const reader = await l.openStoreReader()
    let restore: Awaited<ReturnType<typeof restorePoint>>
    try {
      const progress = restoreProgress(size)
      try {
        restore = await abortable(
          restorePoint(reader, LAB_TENANT, latest.pointId, restoredPath, {
            verify: true,
            onProgress: progress.update,
            signal,
          }),
          signal,
        )
      } finally {
        progress.stop()
      }
    } finally {
      await reader.close()
    }
    say(
      `Restore of point ${latest.pointId}: ${formatBytes(restore.bytes)}, ${restore.dataBlocks} data blocks, ${restore.zeroBlocks} zero blocks left sparse, verified against the block map.`,
    )

    const [source, copy] = [
      await withProgress('hash image', size, signal, (p, s) => hashFile(imagePath, p, s)),
      await withProgress('hash restored', size, signal, (p, s) => hashFile(restoredPath, p, s)),
    ]
    const identical = source === copy
    say(`BLAKE3 of the image:    ${source}`)
    say(`BLAKE3 of the restore:  ${copy}  ${identical ? '(byte-identical)' : '(DIFFERENT)'}`)
    if (!identical) {
      throw new LifeboatError('CLI_DEMO_MISMATCH', 'the restored image differs from the source image', {
        remediation:
          given === undefined
            ? 'This is a bug in Lifeboat: report it with the working directory (run with --keep).'
            : 'Was the image written to during the demo? Run it again on an image nothing writes to.',
      })
    }
    let fsck = 'not an ext4 image: skipped'
    if (ext4) {
      const { checkExt4Image } = await import('../demo/ext4-image.js')
      const { findE2fsTools } = await import('../demo/ext4-image.js')
      if (findE2fsTools().tools === undefined) {
        fsck = 'e2fsck not installed: skipped'
      } else {
        const result = await step('e2fsck -fn on the restored image', signal, () =>
          checkExt4Image(restoredPath),
        )
        if (!result.clean) {
          throw new LifeboatError(
            'CLI_DEMO_FSCK_FAILED',
            `e2fsck -fn found problems in the restored image (exit ${result.exitCode}): ${result.output.trim().split('\n').slice(-3).join(' | ')}`,
            {
              remediation:
                'This is a bug in Lifeboat: report it with the working directory (run with --keep).',
            },
          )
        }
        fsck = 'clean (e2fsck -fn exit 0)'
      }
    }
    say(`Filesystem check of the restore: ${fsck}`)
    say()
    say(formatCycleTable(rows))
    say()
    say(
      `Done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${rows.length} recovery point${rows.length === 1 ? '' : 's'}, check clean, restore byte-identical${ext4 && fsck.startsWith('clean') ? ' and mountable-clean' : ''}.`,
    )
    if (options.keep !== undefined) say(`Files kept in ${dir}.`)
  } finally {
    await lab?.stop().catch(() => undefined)
    if (options.keep === undefined) {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined)
      process.removeListener('exit', removeOnExit)
    }
  }
}

/** The figures of a succeeded replication-cycle job. */
export function cycleRow(name: string, changes: string, job: Job, wallMs: number): CycleRow {
  const result = job.result ?? {}
  const number = (key: string) => {
    const value = Number(result[key])
    return Number.isFinite(value) ? value : 0
  }
  const rp = result[`rp.${DEMO_VOLUME}`]
  const pointId = typeof rp === 'string' ? rp.split(':')[0]! : ''
  if (pointId === '') {
    throw new LifeboatError('CLI_DEMO_NO_POINT', `cycle ${name} (job ${job.id}) named no recovery point`, {
      remediation: 'This is a bug in Lifeboat: report it with the working directory (run with --keep).',
    })
  }
  const durationMs = number('durationMs')
  return {
    name,
    changes,
    changedBlocks: number('changedBlocks'),
    bytesRead: number('bytesRead'),
    payloadBytes: number('payloadBytes'),
    plainBytesSent: number('plainBytesSent'),
    heldRecords: number('heldRecords'),
    durationMs: durationMs > 0 ? durationMs : wallMs,
    pointId,
  }
}

/** The summary table: one row per cycle, aligned columns. */
export function formatCycleTable(rows: readonly CycleRow[]): string {
  const header = ['cycle', 'changes', 'changed blocks', 'read', 'sent', 'ratio', 'time', 'MB/s']
  const body = rows.map((r) => [
    r.name,
    r.changes,
    String(r.changedBlocks),
    formatBytes(r.bytesRead),
    formatBytes(r.payloadBytes),
    r.payloadBytes > 0 ? `${(r.plainBytesSent / r.payloadBytes).toFixed(2)}×` : '–',
    `${(r.durationMs / 1000).toFixed(2)} s`,
    r.durationMs > 0 ? (r.bytesRead / 1e6 / (r.durationMs / 1000)).toFixed(0) : '–',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
  const left = new Set([0, 1])
  const line = (cells: string[]) =>
    cells.map((c, i) => (left.has(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  return [
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body.map(line),
    '',
    'sent: bytes on the wire after LZ4 (encrypted in flight); ratio: plain bytes of the blocks sent / sent;',
    'MB/s: bytes the appliance read (hashed with BLAKE3) per second of the cycle.',
  ].join('\n')
}

async function demoSize(text: string): Promise<number> {
  const size = parseSize(text, '--size')
  const { MIN_DEMO_IMAGE_BYTES, MAX_DEMO_IMAGE_BYTES } = await import('../demo/ext4-image.js')
  if (size < MIN_DEMO_IMAGE_BYTES || size > MAX_DEMO_IMAGE_BYTES || size % 65_536 !== 0) {
    throw new LifeboatError('CLI_USAGE_INVALID_SIZE', `--size ${text} is not usable for the demo`, {
      remediation: `Give a multiple of 64K from ${formatBytes(MIN_DEMO_IMAGE_BYTES)} to ${formatBytes(MAX_DEMO_IMAGE_BYTES)}, e.g. --size 256M.`,
    })
  }
  return size
}

/** The size of an existing image: a readable, non-empty regular file. */
async function existingImageSize(path: string): Promise<number> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(path)
    await (await open(path, 'r')).close()
  } catch (cause) {
    throw new LifeboatError(
      'CLI_INPUT_IMAGE_UNREADABLE',
      `--image ${path} cannot be read: ${(cause as Error).message}`,
      {
        remediation: 'Give the path of an existing raw disk image you may read.',
        cause,
      },
    )
  }
  if (!info.isFile() || info.size === 0) {
    throw new LifeboatError(
      'CLI_INPUT_IMAGE_UNREADABLE',
      `--image ${path} is ${info.isFile() ? 'empty' : 'not a regular file'}`,
      { remediation: 'Give a non-empty raw disk image file (copy a block device to a file first).' },
    )
  }
  return info.size
}

/** Whether the image holds an ext4 (or ext2/3) superblock at the start. */
async function looksLikeExt4(path: string): Promise<boolean> {
  const fd = openSync(path, 'r')
  try {
    const magic = Buffer.alloc(2)
    return readSync(fd, magic, 0, 2, EXT4_MAGIC_OFFSET) === 2 && magic.readUInt16LE(0) === 0xef53
  } finally {
    closeSync(fd)
  }
}

/** BLAKE3 of a whole file, hex. */
async function hashFile(
  path: string,
  onProgress: (done: number) => void,
  signal: AbortSignal,
): Promise<string> {
  const hasher = new Blake3Hasher()
  const handle = await open(path, 'r')
  try {
    const buffer = Buffer.allocUnsafe(READ_CHUNK)
    let position = 0
    for (;;) {
      signal.throwIfAborted()
      const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, position)
      if (bytesRead === 0) break
      hasher.update(buffer.subarray(0, bytesRead))
      position += bytesRead
      onProgress(position)
    }
  } finally {
    await handle.close()
  }
  return hasher.digest('hex')
}

/**
 * Runs one long step that reports no progress of its own; on a terminal, shows its name and the
 * seconds elapsed on stderr until it ends. Rejects as soon as `signal` aborts.
 */
async function step<T>(label: string, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
  const tty = process.stderr.isTTY === true
  const t0 = Date.now()
  const draw = () => process.stderr.write(`\r  … ${label} ${((Date.now() - t0) / 1000).toFixed(1)} s\x1b[K`)
  const timer = tty ? setInterval(draw, 200) : undefined
  if (tty) draw()
  try {
    return await abortable(run(), signal)
  } finally {
    if (timer !== undefined) {
      clearInterval(timer)
      process.stderr.write('\r\x1b[K')
    }
  }
}

/** Runs a step that reports bytes done, with a progress bar on a terminal (cli/progress.ts). */
async function withProgress<T>(
  label: string,
  total: number,
  signal: AbortSignal | undefined,
  run: (onProgress: (done: number) => void, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const inner = signal ?? new AbortController().signal
  const bar = createProgress({ label: label.padEnd(13), total, json: false })
  try {
    return await run((done) => bar.update(done), inner)
  } finally {
    bar.stop()
  }
}

function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work
  if (signal.aborted) {
    work.catch(() => undefined)
    return Promise.reject(signal.reason)
  }
  return new Promise<T>((resolvePromise, reject) => {
    const onAbort = () => {
      work.catch(() => undefined)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolvePromise(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

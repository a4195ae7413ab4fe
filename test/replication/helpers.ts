// Shared by the replication tests: a replication lab (demo/replication-lab.ts) over raw images in a
// temp dir that is always stopped, restores of its points, the map digest an image must have, the
// connector's pack files, the job log, and a built-CLI agent process for kill tests.
//
// Words used here:
// - An *expected map digest* is computed from the image bytes alone (BLAKE3 of each 64 KiB block,
//   32 zero bytes for a zero block, then BLAKE3 of the concatenation: docs/PROTOCOL.md §9 COMMIT),
//   so it is what any uninterrupted run of that image must commit.
import { type ChildProcess, spawn } from 'node:child_process'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { blake3 } from '@napi-rs/blake-hash'
import { restorePoint } from '../../agent/replication/restore-point.js'
import type { Job } from '../../coordinator/jobs/job.js'
import type { JobLogEntry } from '../../coordinator/store/job-log-records.js'
import {
  LAB_TENANT,
  type LabInit,
  type ReplicationLab,
  startReplicationLab,
} from '../../demo/replication-lab.js'
import { pointsOfSummary } from '../../protocol/index.js'
import type { Cleanup } from '../control/helpers.js'

export const BLOCK = 65_536
export const CLI = join(import.meta.dirname, '../../dist/cli/main.js')

export interface LabImage {
  vmId: string
  volumeId: string
  data: Buffer
}

/** Writes the images into a new temp dir and starts a lab over them; stopped by `cleanup`. */
export async function startLab(
  cleanup: Cleanup,
  images: LabImage[],
  extra: Partial<Omit<LabInit, 'dir' | 'volumes'>> = {},
): Promise<ReplicationLab> {
  const dir = await cleanup.tempDir('lifeboat-replication-')
  const volumes = []
  for (const image of images) {
    const path = imagePath(dir, image.volumeId)
    await writeFile(path, image.data)
    volumes.push({
      vmId: image.vmId,
      volumeId: image.volumeId,
      path,
      size: image.data.length,
      blockSize: BLOCK,
    })
  }
  const started = await startReplicationLab({ dir, volumes, scanWorkers: 1, jobTimeoutMs: 60_000, ...extra })
  cleanup.add(() => started.stop())
  return started
}

export function imagePath(labDir: string, volumeId: string): string {
  return join(labDir, `${volumeId}.raw`)
}

/** Restores the point with verify to a new file of the lab dir and returns its bytes. */
export async function restored(lab: ReplicationLab, pointId: string): Promise<Buffer> {
  const reader = await lab.openStoreReader()
  try {
    const out = join(lab.dir, `restore-${pointId}-${Date.now()}.raw`)
    await restorePoint(reader, LAB_TENANT, pointId, out, { verify: true })
    return await readFile(out)
  } finally {
    await reader.close()
  }
}

/** The single point a one-volume cycle job's summary names. */
export function pointOf(job: Job): { pointId: string; mapDigest: string; volumeSize: number } {
  const points = pointsOfSummary(job.result).points
  if (points.length !== 1) throw new Error(`job ${job.id} names ${points.length} points, not 1`)
  return points[0]!
}

/** The block map of an image (zero digest for zero blocks), as the appliance commits it. */
export function expectedBlockMap(image: Buffer, blockSize = BLOCK): Buffer {
  const count = Math.ceil(image.length / blockSize)
  const map = Buffer.alloc(count * 32)
  for (let i = 0; i < count; i++) {
    const block = image.subarray(i * blockSize, Math.min(image.length, (i + 1) * blockSize))
    if (!block.every((byte) => byte === 0)) Buffer.from(blake3(block)).copy(map, i * 32)
  }
  return map
}

export function expectedMapDigest(image: Buffer, blockSize = BLOCK): string {
  return Buffer.from(blake3(expectedBlockMap(image, blockSize))).toString('hex')
}

/** The digests of the image's non-zero blocks. */
export function blockDigests(image: Buffer, blockSize = BLOCK): Buffer[] {
  const map = expectedBlockMap(image, blockSize)
  const out: Buffer[] = []
  for (let at = 0; at < map.length; at += 32) {
    const digest = map.subarray(at, at + 32)
    if (!digest.every((byte) => byte === 0)) out.push(Buffer.from(digest))
  }
  return out
}

/** The pack files of the lab tenant on the connector, sorted by name. */
export async function packFiles(lab: ReplicationLab): Promise<string[]> {
  const dir = join(lab.dir, 'connector', 'chunks', 'tenants', LAB_TENANT, 'packs')
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => name.endsWith('.pack'))
  return names.sort().map((name) => join(dir, name))
}

/** Chunks the connector's index files name (index entries of 64 bytes after a 16-byte header). */
export async function indexedChunks(lab: ReplicationLab): Promise<number> {
  let total = 0
  for (const pack of await packFiles(lab)) {
    const size = (await stat(pack.replace(/\.pack$/, '.idx')).catch(() => ({ size: 16 }))).size
    total += Math.max(0, Math.floor((size - 16) / 64))
  }
  return total
}

/** Every log entry of a job. */
export async function jobLog(lab: ReplicationLab, jobId: string): Promise<JobLogEntry[]> {
  return lab.coordinator.store.listJobLog(LAB_TENANT, jobId, { limit: 1_000 })
}

/** Random bytes of `blocks` whole blocks. */
export function randomImage(blocks: number, seedByte?: number): Buffer {
  const image = Buffer.alloc(blocks * BLOCK)
  // A fast, deterministic-enough fill: crypto randomness is slow for 64 MiB on a loaded machine.
  let x = (seedByte ?? Math.floor(Math.random() * 2 ** 31)) | 1
  for (let i = 0; i < image.length; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    image.writeInt32LE(x | 0, i)
  }
  return image
}

/** Polls `check` every 20 ms until it is true, or throws after `limitMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  limitMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A node of the built CLI (`lifeboat agent start …`) on an already enrolled data dir; killed by cleanup. */
export class CliAgent {
  readonly child: ChildProcess
  output = ''

  constructor(cleanup: Cleanup, args: string[]) {
    this.child = spawn(process.execPath, [CLI, 'agent', 'start', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    cleanup.add(() => this.kill())
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.output += chunk.toString()
    })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.output += chunk.toString()
    })
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** SIGKILL, and resolves once the process is gone. */
  async kill(): Promise<void> {
    if (!this.running) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.kill('SIGKILL')
    await exited
  }
}

/**
 * `lifeboat restore`: materialise a recovery point of a VM's volume from a connector's chunk store
 * as a raw image (agent/replication/restore-point.ts: sparse for zero blocks, crash-safe, optionally
 * verified). Runs beside a live connector: the store reader takes no lock.
 *
 * Where things are, from the connector's data directory: the chunk store `<data-dir>/chunks`, the
 * master key `<data-dir>/master.key` (both overridable like `lifeboat agent start`), and the tenant
 * from the enrolment file `<data-dir>/enrolment.json` (or `--tenant`). `--point latest` is the point
 * of the VM (and `--volume`) with the newest createdAt; a VM with several volumes needs `--volume`.
 */
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import type { PointInfo } from '../blockio/chunk-store/index.js'
import { LifeboatError } from '../protocol/errors.js'
import { createProgress, type Progress } from './progress.js'
import { formatBytes } from './sizes.js'

export interface RestoreCommandOptions {
  vm: string
  point: string
  out: string
  volume?: string
  verify?: boolean
  force?: boolean
  dataDir?: string
  chunkStore?: string
  masterKey?: string
  tenant?: string
}

export function registerRestoreCommand(program: Command, signal: AbortSignal): void {
  program
    .command('restore')
    .description("write a recovery point of a VM's volume to a raw image file (sparse for zero blocks)")
    .requiredOption('--vm <id>', 'the protected VM')
    .requiredOption('--point <id|latest>', 'a recovery point id, or latest (the newest by creation time)')
    .requiredOption('--out <file>', 'the raw image to write (made whole or not at all)')
    .option('--volume <id>', 'the volume, when the VM has several')
    .option('--verify', 'read the image back and check every block against the point')
    .option('--force', 'replace an existing file at --out')
    .option('--data-dir <dir>', "the connector's data directory (chunks, master.key, enrolment.json)")
    .option('--chunk-store <dir>', 'the chunk store (default <data-dir>/chunks)')
    .option('--master-key <file>', 'the master key file (default <data-dir>/master.key)')
    .option('--tenant <id>', "the tenant (default: the connector's, from <data-dir>/enrolment.json)")
    .action(async (options: RestoreCommandOptions) => {
      await runRestore(options, signal)
    })
}

export async function runRestore(options: RestoreCommandOptions, signal: AbortSignal): Promise<void> {
  const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir)
  const needed = (what: string, option: string) =>
    new LifeboatError('CLI_USAGE_MISSING_DATA_DIR', `no --data-dir, so ${option} is needed for the ${what}`, {
      remediation:
        "Give --data-dir <the connector's data directory>, or all of --chunk-store, --master-key and --tenant.",
    })
  const storeRoot = options.chunkStore ?? (dataDir === undefined ? undefined : join(dataDir, 'chunks'))
  const keyPath = options.masterKey ?? (dataDir === undefined ? undefined : join(dataDir, 'master.key'))
  if (storeRoot === undefined) throw needed('chunk store', '--chunk-store')
  if (keyPath === undefined) throw needed('master key', '--master-key')
  const tenant = options.tenant ?? (await tenantOf(dataDir, needed))

  const { openChunkStoreReader, readMasterKeyFile } = await import('../blockio/chunk-store/index.js')
  const { restorePoint } = await import('../agent/replication/restore-point.js')
  const masterKey = await readMasterKeyFile(keyPath)
  const reader = await openChunkStoreReader({ root: resolve(storeRoot), masterKey })
  try {
    const point = choosePoint(await reader.listPoints(tenant), options, tenant)
    const progress = restoreProgress(point.volumeSize)
    let report: Awaited<ReturnType<typeof restorePoint>>
    try {
      report = await restorePoint(reader, tenant, point.pointId, resolve(options.out), {
        verify: options.verify === true,
        overwrite: options.force === true,
        onProgress: progress.update,
        signal,
      })
    } finally {
      progress.stop()
    }
    process.stdout.write(
      `restored point ${point.pointId} of ${point.vmId}/${point.volumeId} (${new Date(point.createdAt).toISOString()}) to ${report.outPath}: ${formatBytes(report.bytes)} (${report.bytes} bytes), ${report.dataBlocks} data blocks, ${report.zeroBlocks} zero blocks (sparse), ${report.verified ? 'verified' : 'not verified (add --verify)'}\n`,
    )
  } finally {
    await reader.close()
  }
}

/** Progress of a restore on a terminal: one bar while writing, then one while verifying. */
export function restoreProgress(total: number): {
  update: (done: number, total: number, phase: 'restore' | 'verify') => void
  stop: () => void
} {
  let phase: 'restore' | 'verify' | undefined
  let bar: Progress | undefined
  return {
    update(done, _total, now) {
      if (now !== phase) {
        bar?.stop()
        phase = now
        bar = createProgress({ label: now.padEnd(7), total, json: false })
      }
      bar!.update(done)
    },
    stop: () => bar?.stop(),
  }
}

/** The tenant named in the connector's enrolment file. */
async function tenantOf(
  dataDir: string | undefined,
  needed: (what: string, option: string) => LifeboatError,
): Promise<string> {
  if (dataDir === undefined) throw needed('tenant', '--tenant')
  const { enrolmentFilePath, readEnrolment } = await import('../agent/control/enrolment-file.js')
  const path = enrolmentFilePath(dataDir)
  const record = await readEnrolment(path)
  if (record === undefined) {
    throw new LifeboatError('CLI_INPUT_NOT_ENROLLED', `${dataDir} holds no enrolment file (${path})`, {
      remediation: 'Give the data directory of an enrolled connector, or name the tenant with --tenant.',
    })
  }
  if (record.node.role !== 'connector') {
    throw new LifeboatError(
      'CLI_INPUT_NOT_A_CONNECTOR',
      `${dataDir} is the data directory of an ${record.node.role}, not a connector`,
      { remediation: 'Recovery points are stored by connectors: give a connector’s --data-dir.' },
    )
  }
  return record.node.tenant
}

/** The point `--point` names among the tenant's points, for `--vm` (and `--volume`). */
export function choosePoint(
  points: readonly PointInfo[],
  options: RestoreCommandOptions,
  tenant: string,
): PointInfo {
  const ofVm = points.filter((p) => p.vmId === options.vm)
  if (ofVm.length === 0) {
    const vms = [...new Set(points.map((p) => p.vmId))].sort()
    throw new LifeboatError(
      'CLI_INPUT_UNKNOWN_VM',
      `tenant ${tenant} has no recovery point of VM ${options.vm}`,
      {
        remediation:
          vms.length === 0
            ? 'The store holds no point of this tenant yet: run a replication cycle first.'
            : `VMs with points: ${vms.join(', ')}.`,
      },
    )
  }
  const volumes = [...new Set(ofVm.map((p) => p.volumeId))].sort()
  let candidates = ofVm
  if (options.volume !== undefined) {
    candidates = ofVm.filter((p) => p.volumeId === options.volume)
    if (candidates.length === 0) {
      throw new LifeboatError(
        'CLI_INPUT_UNKNOWN_VOLUME',
        `VM ${options.vm} has no recovery point of volume ${options.volume}`,
        {
          remediation: `Volumes of ${options.vm} with points: ${volumes.join(', ')}.`,
        },
      )
    }
  }
  if (options.point === 'latest') {
    if (options.volume === undefined && volumes.length > 1) {
      throw new LifeboatError(
        'CLI_USAGE_VOLUME_REQUIRED',
        `VM ${options.vm} has ${volumes.length} volumes: say which with --volume`,
        {
          remediation: `Add --volume with one of: ${volumes.join(', ')}.`,
        },
      )
    }
    return candidates.reduce((newest, p) => (p.createdAt >= newest.createdAt ? p : newest))
  }
  const point = candidates.find((p) => p.pointId === options.point)
  if (point === undefined) {
    const recent = candidates
      .slice(-5)
      .map((p) => `${p.pointId} (${p.volumeId}, ${new Date(p.createdAt).toISOString()})`)
    throw new LifeboatError(
      'CLI_INPUT_UNKNOWN_POINT',
      `VM ${options.vm}${options.volume === undefined ? '' : ` volume ${options.volume}`} has no recovery point ${options.point}`,
      { remediation: `Give --point latest or a point id; the newest: ${recent.join(', ')}.` },
    )
  }
  return point
}

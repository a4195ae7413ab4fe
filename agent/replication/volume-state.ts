/**
 * What an appliance remembers of each volume between cycles: the block index of the volume's last
 * committed recovery point, kept as `<data-dir>/replication/<volume id>/<point id>.lbi` (the block
 * index file of docs/FORMATS.md, written crash-safe by blockio). Naming the file after the point
 * ties the index to exactly the point the connector committed from it, so no second record can
 * disagree with it: a cycle whose payload's base point has an index here diffs against it and sends
 * only what changed; one without (first cycle, lost state, a base the appliance never committed)
 * scans in full and sends every block, and the connector's HAVE_ANSWER turns chunks it holds into
 * hashes, not data.
 *
 * The index is written only after COMMITTED, then the older ones are removed.
 */
import { mkdir, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { BlockIndex } from '../../blockio/block-index.js'
import { readBlockIndexFile, writeBlockIndexFile } from '../../blockio/block-index-file.js'
import { BlockioErrorCode } from '../../blockio/errors.js'

export const REPLICATION_STATE_DIR = 'replication'
const INDEX_SUFFIX = '.lbi'

export function volumeStateDir(dataDir: string, volumeId: string): string {
  return join(dataDir, REPLICATION_STATE_DIR, volumeId)
}

/**
 * The index committed as `pointId`, when the appliance has it and it has `blockSize`; undefined
 * otherwise. A corrupt file is reported through `onDiscarded` and treated as absent: a full scan
 * is always a correct fallback.
 */
export async function loadCommittedIndex(
  dataDir: string,
  volumeId: string,
  pointId: string | undefined,
  blockSize: number,
  onDiscarded: (why: string) => void = () => undefined,
): Promise<BlockIndex | undefined> {
  if (pointId === undefined) return undefined
  let index: BlockIndex
  try {
    index = await readBlockIndexFile(join(volumeStateDir(dataDir, volumeId), `${pointId}${INDEX_SUFFIX}`))
  } catch (error) {
    if ((error as { code?: string }).code !== BlockioErrorCode.INDEX_MISSING) {
      onDiscarded(`the index of point ${pointId} is unusable: ${(error as Error).message}`)
    }
    return undefined
  }
  if (index.blockSize !== blockSize) {
    onDiscarded(`the index of point ${pointId} has block size ${index.blockSize}, the job ${blockSize}`)
    return undefined
  }
  return index
}

/** Keeps `index` as the one committed as `pointId` and removes the volume's older indexes. */
export async function saveCommittedIndex(
  dataDir: string,
  volumeId: string,
  pointId: string,
  index: BlockIndex,
): Promise<void> {
  const dir = volumeStateDir(dataDir, volumeId)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const name = `${pointId}${INDEX_SUFFIX}`
  await writeBlockIndexFile(join(dir, name), index)
  for (const entry of await readdir(dir)) {
    if (entry !== name && entry.endsWith(INDEX_SUFFIX)) await rm(join(dir, entry), { force: true })
  }
}

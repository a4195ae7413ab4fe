/**
 * The consistency check of one recovery point: every chunk its block map names is read, decrypted,
 * decompressed and hashed. A *problem* is one block whose chunk cannot be read back to its digest;
 * it is reported by block number, never thrown. A chunk named by several blocks is verified once
 * and its outcome reported for each of them.
 */
import { BlockioError } from '../errors.js'
import type { BlockMap, CheckOptions, CheckProblem, CheckReport } from './chunk-store.js'
import { DIGEST_LENGTH } from './pack-format.js'
import { isZeroDigest } from './point-map-file.js'
import { digestKey } from './tenant-chunks.js'

export const DEFAULT_MAX_PROBLEMS = 1000
/** Blocks between two onProgress calls. */
const PROGRESS_EVERY = 256

type Verdict = { code: string; message: string } | null

export async function checkPointChunks(
  map: BlockMap,
  readChunk: (digest: Uint8Array) => Promise<Uint8Array>,
  options: CheckOptions,
): Promise<CheckReport> {
  const maxProblems = options.maxProblems ?? DEFAULT_MAX_PROBLEMS
  const { info, digests } = map
  const verdicts = new Map<string, Verdict>()
  const problems: CheckProblem[] = []
  let moreProblems = 0
  let bytesChecked = 0
  for (let index = 0; index < info.blockCount; index++) {
    if (index % PROGRESS_EVERY === 0) {
      options.signal?.throwIfAborted()
      options.onProgress?.(index, info.blockCount)
    }
    const at = index * DIGEST_LENGTH
    if (isZeroDigest(digests, at)) continue
    const digest = digests.subarray(at, at + DIGEST_LENGTH)
    const key = digestKey(digest)
    let verdict = verdicts.get(key)
    if (verdict === undefined) {
      try {
        const plain = await readChunk(digest)
        bytesChecked += plain.byteLength
        verdict = null
      } catch (cause) {
        if (!(cause instanceof BlockioError)) throw cause
        verdict = { code: cause.code, message: cause.message }
      }
      verdicts.set(key, verdict)
    }
    if (verdict === null) continue
    if (problems.length < maxProblems) {
      problems.push({ index, code: verdict.code, message: `block ${index}: ${verdict.message}` })
    } else {
      moreProblems++
    }
  }
  options.onProgress?.(info.blockCount, info.blockCount)
  return {
    tenant: info.tenant,
    pointId: info.pointId,
    blocksChecked: info.blockCount,
    bytesChecked,
    problems,
    moreProblems,
  }
}

/**
 * Which blocks of a volume changed since the last scan, as sorted, non-overlapping, coalesced *runs*
 * `{ first, count }` of block numbers. Built from two block indexes (blockio/index-diff.ts) or from
 * a hypervisor's change-tracking extents (blockio/extents.ts); the scan pipeline reads and sends
 * exactly these blocks.
 */

export interface BlockRun {
  first: number
  count: number
}

export class ChangedBlockMap {
  readonly blockCount: number
  readonly runs: readonly BlockRun[]
  readonly changedCount: number

  /** `runs` must be sorted; overlapping and adjacent runs are merged here. */
  constructor(blockCount: number, runs: Iterable<BlockRun>) {
    const merged: BlockRun[] = []
    let changed = 0
    for (const run of runs) {
      if (run.count <= 0) continue
      if (run.first < 0 || run.first + run.count > blockCount) {
        throw new RangeError(`run ${run.first}+${run.count} is outside a volume of ${blockCount} blocks`)
      }
      const last = merged[merged.length - 1]
      if (last !== undefined && run.first < last.first) throw new RangeError('runs are not sorted')
      if (last !== undefined && run.first <= last.first + last.count) {
        const end = Math.max(last.first + last.count, run.first + run.count)
        changed += end - (last.first + last.count)
        last.count = end - last.first
      } else {
        merged.push({ first: run.first, count: run.count })
        changed += run.count
      }
    }
    this.blockCount = blockCount
    this.runs = merged
    this.changedCount = changed
  }

  static all(blockCount: number): ChangedBlockMap {
    return new ChangedBlockMap(blockCount, blockCount > 0 ? [{ first: 0, count: blockCount }] : [])
  }

  /** Every changed block number, in order. */
  *blocks(): IterableIterator<number> {
    for (const run of this.runs) {
      for (let i = run.first; i < run.first + run.count; i++) yield i
    }
  }
}

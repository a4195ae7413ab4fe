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

  /** Like the constructor, but `runs` may come in any order: they are sorted first. */
  static fromUnsortedRuns(blockCount: number, runs: Iterable<BlockRun>): ChangedBlockMap {
    const sorted = [...runs].sort((a, b) => a.first - b.first)
    return new ChangedBlockMap(blockCount, sorted)
  }

  static none(blockCount: number): ChangedBlockMap {
    return new ChangedBlockMap(blockCount, [])
  }

  static all(blockCount: number): ChangedBlockMap {
    return new ChangedBlockMap(blockCount, blockCount > 0 ? [{ first: 0, count: blockCount }] : [])
  }

  /**
   * The blocks changed in either map: how a change-tracking map is joined with the blocks a volume
   * resize made changed (docs/FORMATS.md "Volume resize"). Both maps must describe the same volume.
   */
  union(other: ChangedBlockMap): ChangedBlockMap {
    if (other.blockCount !== this.blockCount) {
      throw new RangeError(`cannot join maps of ${this.blockCount} and ${other.blockCount} blocks`)
    }
    const runs: BlockRun[] = []
    let i = 0
    let j = 0
    // A merge of two sorted lists keeps the constructor's sorted precondition without a sort.
    while (i < this.runs.length || j < other.runs.length) {
      const a = this.runs[i]
      const b = other.runs[j]
      if (b === undefined || (a !== undefined && a.first <= b.first)) {
        runs.push(a!)
        i++
      } else {
        runs.push(b)
        j++
      }
    }
    return new ChangedBlockMap(this.blockCount, runs)
  }

  /** True when block `i` is changed. Binary search: O(log runs). */
  has(i: number): boolean {
    let lo = 0
    let hi = this.runs.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const run = this.runs[mid]!
      if (i < run.first) hi = mid - 1
      else if (i >= run.first + run.count) lo = mid + 1
      else return true
    }
    return false
  }

  /** Every changed block number, in order. */
  *blocks(): IterableIterator<number> {
    for (const run of this.runs) {
      for (let i = run.first; i < run.first + run.count; i++) yield i
    }
  }
}

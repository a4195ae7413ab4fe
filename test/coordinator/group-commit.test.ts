// Group commit (coordinator/store/group-commit.ts) over an in-memory map: changes that queue while a
// batch is written are planned in order through the group's pending writes and written as one batch.
import { describe, expect, it } from 'vitest'
import { type ChangeRequest, GroupCommit, type PlannedChange } from '../../coordinator/store/group-commit.js'
import type { StoreOperation } from '../../coordinator/store/migrations.js'
import type { RecordReader } from '../../coordinator/store/pending-writes.js'

/** A map standing in for the database, whose batch writes wait until the test releases them. */
class HeldStore {
  readonly data = new Map<string, string>()
  readonly batches: { operations: StoreOperation[]; sync: boolean }[] = []
  holding = false
  /** The batch (0 = the first written) that fails, and with what. */
  failing: { batch: number; error: Error } | undefined
  readonly #waiting: (() => void)[] = []

  getSync(key: string): string | undefined {
    return this.data.get(key)
  }

  async write(operations: StoreOperation[], sync: boolean): Promise<void> {
    const batch = this.batches.push({ operations, sync }) - 1
    if (this.holding) await new Promise<void>((resolve) => this.#waiting.push(resolve))
    if (this.failing?.batch === batch) throw this.failing.error
    for (const op of operations) {
      if (op.type === 'put') this.data.set(op.key, op.value)
      else this.data.delete(op.key)
    }
  }

  release(): void {
    this.holding = false
    this.resume()
  }

  /** Lets the writes waiting now finish, holding later ones. */
  resume(): void {
    for (const resume of this.#waiting.splice(0)) resume()
  }
}

/** Lets every pending promise and I/O callback run: the group being written is then in `write`. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

function committer(store: HeldStore, maxChanges?: number): GroupCommit {
  return new GroupCommit({ store, write: (ops, sync) => store.write(ops, sync), maxChanges })
}

/** Reads the counter under `key`, writes it + 1, returns the new value. */
function increment(key: string, sync = true): ChangeRequest<number> {
  return {
    sync,
    leads: false,
    async plan(reads: RecordReader): Promise<PlannedChange<number>> {
      const next = Number((await reads.get(key)) ?? '0') + 1
      return { result: next, operations: [{ type: 'put', key, value: String(next) }] }
    },
  }
}

/** Fails unless `key` holds `expected`; otherwise writes `key` = `value`. */
function compareAndSet(key: string, expected: string | undefined, value: string): ChangeRequest<string> {
  return {
    sync: true,
    leads: false,
    async plan(reads) {
      const current = await reads.get(key)
      if (current !== expected) throw new Error(`${key} is ${String(current)}, not ${String(expected)}`)
      return { result: value, operations: [{ type: 'put', key, value }] }
    },
  }
}

/** Records the order changes were planned in; writes one key of its own. */
function tagged(name: string, order: string[], leads = false): ChangeRequest<string> {
  return {
    sync: true,
    leads,
    async plan() {
      order.push(name)
      return { result: name, operations: [{ type: 'put', key: name, value: name }] }
    },
  }
}

describe('GroupCommit', () => {
  it('writes the changes queued during a write as one batch, each caller getting its own result', async () => {
    const store = new HeldStore()
    const commit = committer(store)
    store.holding = true
    const first = commit.submit(increment('a'))
    await settle()
    const rest = [commit.submit(increment('a')), commit.submit(increment('b')), commit.submit(increment('a'))]
    await settle()
    expect(store.batches).toHaveLength(1)
    store.release()
    expect(await first).toBe(1)
    expect(await Promise.all(rest)).toEqual([2, 1, 3])
    expect(store.batches).toHaveLength(2)
    expect(store.batches[1].operations.map((op) => op.key)).toEqual(['a', 'b', 'a'])
    expect(store.data.get('a')).toBe('3')
    expect(commit.stats).toMatchObject({ groups: 2, changes: 4, largestGroup: 3 })
  })

  it('plans each change against the earlier changes of its group, in submission order', async () => {
    const store = new HeldStore()
    const commit = committer(store)
    const results = await Promise.all(Array.from({ length: 20 }, () => commit.submit(increment('n'))))
    expect(results).toEqual(Array.from({ length: 20 }, (_, n) => n + 1))
    expect(store.data.get('n')).toBe('20')
    expect(commit.stats.changes).toBe(20)
    expect(commit.stats.groups).toBeLessThan(20)
  })

  it('a change whose precondition fails writes nothing and does not poison the others', async () => {
    const store = new HeldStore()
    store.data.set('k', 'v0')
    const commit = committer(store)
    store.holding = true
    const opener = commit.submit(increment('other'))
    await settle()
    const a = commit.submit(compareAndSet('k', 'v0', 'v1'))
    // Sees v1 from `a` through the pending writes, so it fails, as it would have one after another.
    const b = commit.submit(compareAndSet('k', 'v0', 'v2'))
    const c = commit.submit(compareAndSet('k', 'v1', 'v3'))
    store.release()
    await opener
    expect(await a).toBe('v1')
    await expect(b).rejects.toThrow('k is v1, not v0')
    expect(await c).toBe('v3')
    expect(store.batches[1].operations).toEqual([
      { type: 'put', key: 'k', value: 'v1' },
      { type: 'put', key: 'k', value: 'v3' },
    ])
    expect(store.data.get('k')).toBe('v3')
  })

  it('keeps a change all-or-nothing: the writes of one that throws after reading are never seen', async () => {
    const store = new HeldStore()
    const commit = committer(store)
    store.holding = true
    const opener = commit.submit(increment('x'))
    await settle()
    const broken = commit.submit<number>({
      sync: true,
      leads: false,
      async plan(reads) {
        await reads.get('y')
        throw new Error('half-way')
      },
    })
    const after = commit.submit<string | undefined>({
      sync: true,
      leads: false,
      async plan(reads) {
        return { result: await reads.get('y'), operations: [] }
      },
    })
    store.release()
    await opener
    await expect(broken).rejects.toThrow('half-way')
    expect(await after).toBeUndefined()
    expect(store.data.has('y')).toBe(false)
  })

  it('a change does not see its own writes, only those of the changes before it', async () => {
    const store = new HeldStore()
    const commit = committer(store)
    const seen = await commit.submit<(string | undefined)[]>({
      sync: true,
      leads: false,
      async plan(reads) {
        const before = await reads.get('own')
        return { result: [before, ...(await reads.getMany(['own', 'none']))], operations: [] }
      },
    })
    expect(seen).toEqual([undefined, undefined, undefined])
  })

  it('settles no caller before its group is written', async () => {
    const store = new HeldStore()
    const commit = committer(store)
    store.holding = true
    let settled = 0
    const done = [commit.submit(increment('a')), commit.submit(compareAndSet('a', 'x', 'y'))].map((p) =>
      p.then(
        () => settled++,
        () => settled++,
      ),
    )
    await settle()
    expect(store.batches).toHaveLength(1)
    expect(settled).toBe(0)
    store.release()
    await Promise.all(done)
    expect(settled).toBe(2)
  })

  it('when the batch fails, gives its error to every change that wrote or read pending writes', async () => {
    const store = new HeldStore()
    const commit = committer(store)
    store.holding = true
    const opener = commit.submit(increment('z'))
    await settle()
    const failedAlone = commit.submit(compareAndSet('k', 'nope', 'v'))
    const readOnlyFirst = commit.submit<string>({
      sync: true,
      leads: false,
      async plan() {
        return { result: 'read only', operations: [] }
      },
    })
    const writer = commit.submit(increment('a'))
    const readAfterWriter = commit.submit<string | undefined>({
      sync: true,
      leads: false,
      async plan(reads) {
        return { result: await reads.get('a'), operations: [] }
      },
    })
    const untouchedAfterWriter = commit.submit<string | undefined>({
      sync: true,
      leads: false,
      async plan(reads) {
        return { result: await reads.get('elsewhere'), operations: [] }
      },
    })
    // The second group's batch fails.
    const failure = new Error('disk full')
    store.failing = { batch: 1, error: failure }
    store.release()
    await opener
    await expect(failedAlone).rejects.toThrow('k is undefined, not nope')
    expect(await readOnlyFirst).toBe('read only')
    await expect(writer).rejects.toBe(failure)
    await expect(readAfterWriter).rejects.toBe(failure)
    // It read only committed records and wrote nothing: its outcome stands.
    expect(await untouchedAfterWriter).toBeUndefined()
    expect(store.data.has('a')).toBe(false)
    // The committer carries on.
    expect(await commit.submit(increment('a'))).toBe(1)
  })

  it('plans a leading change only first in a group', async () => {
    const store = new HeldStore()
    const commit = committer(store)
    const order: string[] = []
    store.holding = true
    const opener = commit.submit(tagged('x', order))
    await settle()
    const all = Promise.all([
      commit.submit(tagged('a', order)),
      commit.submit(tagged('lead', order, true)),
      commit.submit(tagged('c', order)),
    ])
    store.release()
    await opener
    expect(await all).toEqual(['a', 'lead', 'c'])
    expect(order).toEqual(['x', 'a', 'lead', 'c'])
    expect(store.batches.map((b) => b.operations.map((op) => op.key))).toEqual([['x'], ['a'], ['lead', 'c']])
  })

  it('holds at most maxChanges changes per group', async () => {
    const store = new HeldStore()
    const commit = committer(store, 2)
    const results = await Promise.all(Array.from({ length: 5 }, () => commit.submit(increment('n'))))
    expect(results).toEqual([1, 2, 3, 4, 5])
    expect(store.batches.every((b) => b.operations.length <= 2)).toBe(true)
    expect(commit.stats.largestGroup).toBeLessThanOrEqual(2)
    expect(() => committer(store, 0)).toThrow(RangeError)
  })

  it('fsyncs a group when any change that wrote asked for it, and skips empty batches', async () => {
    const store = new HeldStore()
    const commit = committer(store)
    await commit.submit(increment('r', false))
    expect(store.batches.at(-1)!.sync).toBe(false)
    store.holding = true
    const opener = commit.submit(increment('r', false))
    await settle()
    const mixed = Promise.all([commit.submit(increment('r', false)), commit.submit(increment('s', true))])
    store.release()
    await opener
    await mixed
    expect(store.batches.at(-1)!.sync).toBe(true)
    const before = store.batches.length
    await commit.submit({ sync: true, leads: false, plan: async () => ({ result: 0, operations: [] }) })
    expect(store.batches.length).toBe(before)
  })

  it('settles a change that wrote nothing and read no pending write as soon as it is planned', async () => {
    const store = new HeldStore()
    store.data.set('c', 'committed')
    const commit = committer(store)
    store.holding = true
    const opener = commit.submit(increment('x'))
    await settle()
    const writer = commit.submit(increment('w'))
    const readsCommitted = commit.submit<string | undefined>({
      sync: true,
      leads: false,
      plan: async (reads) => ({ result: await reads.get('c'), operations: [] }),
    })
    const refusedOnCommitted = commit.submit(compareAndSet('c', 'other', 'v'))
    const readsPending = commit.submit<string | undefined>({
      sync: true,
      leads: false,
      plan: async (reads) => ({ result: await reads.get('w'), operations: [] }),
    })
    const states = new Map<string, string>()
    const track = (name: string, p: Promise<unknown>) =>
      p.then(
        () => states.set(name, 'resolved'),
        () => states.set(name, 'rejected'),
      )
    void track('writer', writer)
    void track('readsCommitted', readsCommitted)
    void track('refusedOnCommitted', refusedOnCommitted)
    void track('readsPending', readsPending)
    // The first group's write finishes; the second is planned and its write held.
    store.resume()
    await opener
    await settle()
    expect(store.batches).toHaveLength(2)
    expect(Object.fromEntries(states)).toEqual({ readsCommitted: 'resolved', refusedOnCommitted: 'rejected' })
    store.release()
    expect(await writer).toBe(1)
    expect(await readsPending).toBe('1')
    expect(await readsCommitted).toBe('committed')
    expect(commit.stats.settledEarly).toBe(2)
  })

  it('idle() resolves once everything submitted has settled', async () => {
    const store = new HeldStore()
    const commit = committer(store)
    store.holding = true
    const pending = [commit.submit(increment('i')), commit.submit(increment('i'))]
    let idle = false
    const waiting = commit.idle().then(() => {
      idle = true
    })
    await settle()
    expect(idle).toBe(false)
    store.release()
    await waiting
    expect(await Promise.all(pending)).toEqual([1, 2])
    await commit.idle()
  })
})

/**
 * The dispatcher's memory of its own recent offers, per node: which jobs it offered and when, and
 * when it last offered anything. Node selection counts an offer as one of the node's active jobs
 * until a load report received after the offer can include it (node-selection.ts), and breaks ties
 * by the least recently offered node.
 *
 * An *unsettled offer* is forgotten when the node's next report arrives (`settleReported`), when the
 * offer ends without the node keeping the job (send failure, hand-back, ack timeout: `forget`), and
 * in any case once it is older than the ack deadline (`forgetOlderThan`): by then the node either
 * acknowledged it, and its reports count it, or the lease expired. So a node's entry holds at most
 * the jobs offered to it within one ack deadline, which the active-job cap bounds. The last offer
 * time is one number per node ever offered to (bounded by the enrolled nodes) and is kept: pruning
 * it would make sparse jobs (one an hour) always go to the node whose id sorts first.
 */
import type { OfferHistory } from './node-selection.js'

export class OfferLedger implements OfferHistory {
  readonly #offers = new Map<string, Map<string, number>>()
  readonly #lastOfferedAt = new Map<string, number>()

  record(nodeId: string, jobId: string, at: number): void {
    let jobs = this.#offers.get(nodeId)
    if (jobs === undefined) {
      jobs = new Map()
      this.#offers.set(nodeId, jobs)
    }
    jobs.set(jobId, at)
    this.#lastOfferedAt.set(nodeId, at)
  }

  forget(nodeId: string, jobId: string): void {
    const jobs = this.#offers.get(nodeId)
    if (jobs === undefined) return
    jobs.delete(jobId)
    if (jobs.size === 0) this.#offers.delete(nodeId)
  }

  /** The node's report received at `receivedAt` includes every offer made before it. */
  settleReported(nodeId: string, receivedAt: number): void {
    const jobs = this.#offers.get(nodeId)
    if (jobs === undefined) return
    for (const [jobId, at] of jobs) if (at < receivedAt) jobs.delete(jobId)
    if (jobs.size === 0) this.#offers.delete(nodeId)
  }

  forgetOlderThan(cutoff: number): void {
    for (const [nodeId, jobs] of this.#offers) {
      for (const [jobId, at] of jobs) if (at < cutoff) jobs.delete(jobId)
      if (jobs.size === 0) this.#offers.delete(nodeId)
    }
  }

  offersSince(nodeId: string, since: number): number {
    const jobs = this.#offers.get(nodeId)
    if (jobs === undefined) return 0
    let count = 0
    for (const at of jobs.values()) if (at >= since) count++
    return count
  }

  lastOfferedAt(nodeId: string): number | undefined {
    return this.#lastOfferedAt.get(nodeId)
  }

  /** Unsettled offers, all nodes (for tests and diagnostics). */
  get size(): number {
    let count = 0
    for (const jobs of this.#offers.values()) count += jobs.size
    return count
  }
}

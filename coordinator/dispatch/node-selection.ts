/**
 * Node selection: which node gets a queued job. Pure: the same nodes, offer history, rules and time
 * give the same answer (docs/SCHEDULING.md "Dispatch rules").
 *
 * A node is *eligible* when it passes every filter, applied in this order:
 * `tenant` (the job's), `site` (the job's), `role` (the job's), `offline` (it has a live session),
 * `excluded` (not in the job's excludedNodes), `stale` (its last load report is at most
 * `staleAfterIntervals` of its heartbeat intervals old; no report yet counts as stale), and
 * `overloaded` (its active jobs are below both our cap and its own `maxJobs`, and its CPU is at most
 * `maxCpu`).
 *
 * *Active jobs* are the report's count plus the offers made to the node after that report was
 * received (OfferHistory): the report cannot know them yet, and without them a burst of jobs would
 * all land on the node that looked idlest until its next heartbeat.
 *
 * Eligible nodes are ranked: fewer active jobs first, then lower CPU *band* (CPU rounded down to
 * `cpuBand`: 0.31 and 0.38 are equally busy, so jitter in the reports does not decide), then least
 * recently offered (round robin, so two equal nodes share the work), then node id.
 */
import type { DispatchNode, DispatchRole } from './dispatch-ports.js'
import { DispatchError, DispatchErrorCode } from './errors.js'

/** Heartbeat intervals after which a load report is too old to trust. */
export const DEFAULT_STALE_AFTER_INTERVALS = 3
/** Jobs a node runs at once, unless it reports a lower `maxJobs`. */
export const DEFAULT_MAX_ACTIVE_JOBS = 8
/** CPU utilisation above which a node gets no new job. */
export const DEFAULT_MAX_CPU = 0.9
/** Width of a CPU band for ranking. */
export const DEFAULT_CPU_BAND = 0.1
/** Node ids named per filter in a DISPATCH_NO_ELIGIBLE_NODE message. */
const NAMED_NODES = 5

export type SelectionFilter = 'tenant' | 'site' | 'role' | 'offline' | 'excluded' | 'stale' | 'overloaded'
export const SELECTION_FILTERS: readonly SelectionFilter[] = [
  'tenant',
  'site',
  'role',
  'offline',
  'excluded',
  'stale',
  'overloaded',
]

export interface SelectionRules {
  staleAfterIntervals: number
  maxActiveJobs: number
  maxCpu: number
  cpuBand: number
}

export const DEFAULT_SELECTION_RULES: SelectionRules = {
  staleAfterIntervals: DEFAULT_STALE_AFTER_INTERVALS,
  maxActiveJobs: DEFAULT_MAX_ACTIVE_JOBS,
  maxCpu: DEFAULT_MAX_CPU,
  cpuBand: DEFAULT_CPU_BAND,
}

/** The dispatcher's memory of its own recent offers (offer-ledger.ts). */
export interface OfferHistory {
  /** Offers to the node made after `since` and not settled since. */
  offersSince(nodeId: string, since: number): number
  lastOfferedAt(nodeId: string): number | undefined
}

export interface JobPlacement {
  tenantId: string
  siteId: string
  role: DispatchRole
  excludedNodes?: readonly string[]
}

export interface RankedNode {
  node: DispatchNode
  activeJobs: number
  cpuBand: number
  lastOfferedAt?: number
}

export type NodeSelection =
  | { ok: true; node: DispatchNode; ranked: RankedNode[] }
  | { ok: false; error: DispatchError; removed: Partial<Record<SelectionFilter, string[]>> }

export interface SelectionOptions {
  /** Treat excluded nodes as eligible (the dispatcher's fallback once the exclusion grace is over). */
  ignoreExclusions?: boolean
}

export function selectNode(
  job: JobPlacement,
  nodes: readonly DispatchNode[],
  history: OfferHistory,
  rules: SelectionRules,
  now: number,
  options: SelectionOptions = {},
): NodeSelection {
  const removed: Partial<Record<SelectionFilter, string[]>> = {}
  const remove = (filter: SelectionFilter, node: DispatchNode): void => {
    const list = removed[filter] ?? []
    list.push(node.nodeId)
    removed[filter] = list
  }
  const excluded = options.ignoreExclusions === true ? new Set<string>() : new Set(job.excludedNodes ?? [])
  const ranked: RankedNode[] = []
  for (const node of nodes) {
    if (node.tenantId !== job.tenantId) remove('tenant', node)
    else if (node.siteId !== job.siteId) remove('site', node)
    else if (node.role !== job.role) remove('role', node)
    else if (!node.online) remove('offline', node)
    else if (excluded.has(node.nodeId)) remove('excluded', node)
    else if (
      node.load === undefined ||
      now - node.load.receivedAt > rules.staleAfterIntervals * node.load.intervalMs
    ) {
      remove('stale', node)
    } else {
      const { load } = node
      const activeJobs = load.activeJobs + history.offersSince(node.nodeId, load.receivedAt)
      const cap = Math.min(rules.maxActiveJobs, load.maxJobs ?? Number.POSITIVE_INFINITY)
      if (activeJobs >= cap || load.cpu > rules.maxCpu) remove('overloaded', node)
      else {
        const cpuBand = Math.floor(load.cpu / rules.cpuBand + 1e-9)
        ranked.push({ node, activeJobs, cpuBand, lastOfferedAt: history.lastOfferedAt(node.nodeId) })
      }
    }
  }
  if (ranked.length === 0) return { ok: false, error: noEligibleNode(job, removed), removed }
  ranked.sort(
    (a, b) =>
      a.activeJobs - b.activeJobs ||
      a.cpuBand - b.cpuBand ||
      (a.lastOfferedAt ?? Number.NEGATIVE_INFINITY) - (b.lastOfferedAt ?? Number.NEGATIVE_INFINITY) ||
      (a.node.nodeId < b.node.nodeId ? -1 : a.node.nodeId > b.node.nodeId ? 1 : 0),
  )
  return { ok: true, node: ranked[0].node, ranked }
}

/** True when the job's exclusions removed a node: ignoring them may find one. */
export function exclusionsRemovedAny(removed: Partial<Record<SelectionFilter, string[]>>): boolean {
  return (removed.excluded?.length ?? 0) > 0
}

const HINTS: Record<SelectionFilter, string> = {
  tenant: '',
  site: '',
  role: '',
  offline: 'start the offline nodes or restore their connection to the coordinator',
  excluded:
    'every other node already missed or refused this job; it is offered to them again once the exclusion grace period is over',
  stale: 'nodes stopped reporting load: check their heartbeats reach the coordinator',
  overloaded:
    'every node is at its job cap or CPU threshold, so the job waits; add a node to the site to share the work',
}

function noEligibleNode(
  job: JobPlacement,
  removed: Partial<Record<SelectionFilter, string[]>>,
): DispatchError {
  // Nodes of other tenants are never named: the message reaches this tenant's operator.
  const parts: string[] = []
  const hints: string[] = []
  for (const filter of SELECTION_FILTERS) {
    const ids = removed[filter]
    if (ids === undefined || filter === 'tenant' || filter === 'site' || filter === 'role') continue
    const named = ids.slice(0, NAMED_NODES).join(', ') + (ids.length > NAMED_NODES ? ', …' : '')
    parts.push(`${ids.length} ${filter} (${named})`)
    hints.push(HINTS[filter])
  }
  if (parts.length === 0) {
    return new DispatchError(
      DispatchErrorCode.NO_ELIGIBLE_NODE,
      `no ${job.role} is enrolled in site ${job.siteId}`,
      {
        remediation: `Enrol an ${job.role} in site ${job.siteId}, or protect the VM from a site that has one.`,
        retryable: true,
      },
    )
  }
  const sentence = hints.join('; ')
  return new DispatchError(
    DispatchErrorCode.NO_ELIGIBLE_NODE,
    `no eligible ${job.role} in site ${job.siteId}: ${parts.join(', ')}`,
    { remediation: `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`, retryable: true },
  )
}

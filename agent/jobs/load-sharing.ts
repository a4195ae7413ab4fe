/**
 * Load sharing on the agent (docs/SCHEDULING.md §10 "Agents-first load sharing"): the coordinator
 * relays the load reports of this node's site peers (SITE_LOAD); when this node is *overloaded* and
 * a peer is *clearly idler*, one accepted job that has not *started* is handed back (JOB_HANDBACK,
 * AGENT_JOB_REBALANCED) so the coordinator re-offers it at once instead of letting it wait here.
 *
 * Words used here:
 * - *Overloaded*: more jobs running than this node's `maxJobs` (the limit was lowered while they
 *   ran), or the CPU of its last heartbeat above `maxCpu`.
 * - A peer's report is *fresh* while younger than `staleAfterIntervals` of its heartbeat interval.
 * - A peer *has room* when its fresh report shows fewer active jobs than its `maxJobs` (DEFAULT_MAX_JOBS
 *   when it reports none) and CPU at most `maxCpu`; it is *clearly idler* when it also runs at
 *   least `jobGap` fewer jobs than this node, or has at least `cpuGap` less CPU. The gaps keep two
 *   equally busy nodes from passing a job back and forth.
 * - A job has *started* once its executor reported PROGRESS (job-runner.ts); only jobs not started
 *   are handed back, newest first: they have moved no data yet.
 *
 * The agent never picks the other node: it only gives the job back; the coordinator's dispatch
 * rules (tenancy, eligibility, leases, exclusion of this node) decide where it goes. At most one job
 * is handed back per `cooldownMs`, so the peers' next reports can show the effect first.
 */
import type { LoadReport } from '../../protocol/index.js'
import type { SiteLoadDetail } from '../control/events.js'
import { type AgentLogger, silentLogger } from '../control/logger.js'
import { rebalanced } from './errors.js'
import { DEFAULT_MAX_JOBS, type JobRunner, type RunningJob } from './job-runner.js'

export const DEFAULT_SHARING_MAX_CPU = 0.9
export const DEFAULT_SHARING_JOB_GAP = 2
export const DEFAULT_SHARING_CPU_GAP = 0.25
export const DEFAULT_SHARING_STALE_AFTER_INTERVALS = 3
export const DEFAULT_SHARING_COOLDOWN_MS = 5_000

export interface LoadSharingInit {
  /** CPU above which this node is overloaded and a peer has no room. Default 0.9. */
  maxCpu?: number
  /** Fewer jobs a peer must run to be clearly idler. Default 2. */
  jobGap?: number
  /** Less CPU a peer must have to be clearly idler. Default 0.25. */
  cpuGap?: number
  /** Heartbeat intervals after which a peer's report no longer counts. Default 3. */
  staleAfterIntervals?: number
  /** Least time between two hand-backs. Default 5 s. */
  cooldownMs?: number
}

export type SharingRules = Required<LoadSharingInit>

/** A site peer's latest report, as received. */
export interface PeerLoad {
  nodeId: string
  load: LoadReport
  intervalMs: number
  receivedAt: number
}

/** This node as load sharing sees it. */
export interface OwnLoad {
  activeJobs: number
  maxJobs: number
  /** The CPU of the last heartbeat; undefined before the first. */
  cpu?: number
}

export interface HandBackChoice {
  job: RunningJob
  peer: PeerLoad
  /** Why this node is overloaded, for the reason's message. */
  why: string
}

export function sharingRules(init: LoadSharingInit = {}): SharingRules {
  const rules: SharingRules = {
    maxCpu: init.maxCpu ?? DEFAULT_SHARING_MAX_CPU,
    jobGap: init.jobGap ?? DEFAULT_SHARING_JOB_GAP,
    cpuGap: init.cpuGap ?? DEFAULT_SHARING_CPU_GAP,
    staleAfterIntervals: init.staleAfterIntervals ?? DEFAULT_SHARING_STALE_AFTER_INTERVALS,
    cooldownMs: init.cooldownMs ?? DEFAULT_SHARING_COOLDOWN_MS,
  }
  const check = (name: keyof SharingRules, min: number, max: number): void => {
    const value = rules[name]
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max)
      throw new RangeError(`loadSharing.${name} must be a number from ${min} to ${max}, got ${String(value)}`)
  }
  check('maxCpu', 0, 1)
  check('jobGap', 1, 10_000)
  check('cpuGap', 0.01, 1)
  check('staleAfterIntervals', 1, 1_000)
  check('cooldownMs', 0, 3_600_000)
  return rules
}

/** Why this node is overloaded, or undefined when it is not. */
export function overloadOf(self: OwnLoad, rules: SharingRules): string | undefined {
  if (self.activeJobs > self.maxJobs) return `${self.activeJobs} jobs running, limit ${self.maxJobs}`
  if (self.cpu !== undefined && self.cpu > rules.maxCpu) return `CPU ${Math.round(self.cpu * 100)} %`
  return undefined
}

/** The job to hand back and the peer that makes it worth it, or undefined: keep everything. */
export function chooseHandBack(
  self: OwnLoad,
  peers: readonly PeerLoad[],
  running: readonly RunningJob[],
  rules: SharingRules,
  now: number,
): HandBackChoice | undefined {
  const why = overloadOf(self, rules)
  if (why === undefined) return undefined
  const job = running.filter((candidate) => !candidate.started).sort((a, b) => b.acceptedAt - a.acceptedAt)[0]
  if (job === undefined) return undefined
  const idler = peers
    .filter((peer) => now - peer.receivedAt <= rules.staleAfterIntervals * peer.intervalMs)
    .filter(
      (peer) =>
        peer.load.activeJobs < (peer.load.maxJobs ?? DEFAULT_MAX_JOBS) && peer.load.cpu <= rules.maxCpu,
    )
    .filter(
      (peer) =>
        peer.load.activeJobs + rules.jobGap <= self.activeJobs ||
        (self.cpu !== undefined && peer.load.cpu + rules.cpuGap <= self.cpu),
    )
    .sort((a, b) => a.load.activeJobs - b.load.activeJobs || a.load.cpu - b.load.cpu)[0]
  return idler === undefined ? undefined : { job, peer: idler, why }
}

export interface LoadSharingComponents {
  runner: Pick<JobRunner, 'activeJobs' | 'maxJobs' | 'runningJobs' | 'handBack'>
  /** The control client's SITE_LOAD events and its last heartbeat's load. */
  client: {
    readonly lastLoad: LoadReport | undefined
    readonly events: { on(type: 'site-load', listener: (detail: SiteLoadDetail) => void): () => void }
  }
  logger?: AgentLogger
  now?: () => number
}

export interface LoadSharing {
  /** Peers whose reports are kept, by node id. */
  readonly peers: ReadonlyMap<string, PeerLoad>
  /** Jobs handed back since the start. */
  readonly handedBack: number
  /** Looks once more (also done on every SITE_LOAD). */
  check(): void
  stop(): void
}

export function createLoadSharing(init: LoadSharingInit, components: LoadSharingComponents): LoadSharing {
  const rules = sharingRules(init)
  const { runner, client } = components
  const log = components.logger ?? silentLogger
  const now = components.now ?? Date.now
  const peers = new Map<string, PeerLoad>()
  let handedBack = 0
  let lastHandBackAt = Number.NEGATIVE_INFINITY

  const check = (): void => {
    const at = now()
    if (at - lastHandBackAt < rules.cooldownMs) return
    const self: OwnLoad = {
      activeJobs: runner.activeJobs,
      maxJobs: runner.maxJobs,
      cpu: client.lastLoad?.cpu,
    }
    const choice = chooseHandBack(self, [...peers.values()], runner.runningJobs(), rules, at)
    if (choice === undefined) return
    if (!runner.handBack(choice.job.jobId, rebalanced(choice.why, choice.peer.nodeId))) return
    handedBack++
    lastHandBackAt = at
    log.info(
      { event: 'job-rebalanced', jobId: choice.job.jobId, peer: choice.peer.nodeId, why: choice.why },
      `job ${choice.job.jobId} handed back: ${choice.why}, node ${choice.peer.nodeId} has room`,
    )
  }

  const off = client.events.on('site-load', (detail) => {
    peers.set(detail.nodeId, {
      nodeId: detail.nodeId,
      load: detail.load,
      intervalMs: detail.intervalMs,
      receivedAt: detail.receivedAt,
    })
    // Reports of nodes long gone are dropped as they are found stale.
    for (const [id, peer] of peers)
      if (at() - peer.receivedAt > rules.staleAfterIntervals * peer.intervalMs) peers.delete(id)
    check()
  })
  const at = now

  return {
    peers,
    get handedBack() {
      return handedBack
    },
    check,
    stop: off,
  }
}

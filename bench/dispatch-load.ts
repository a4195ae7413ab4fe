/**
 * The dispatch load benchmark, in one process: a classic-level metadata store in a temporary
 * directory holding 10,000 protected VMs on 1-minute interval plans spread over sites, 100
 * simulated nodes, the real scheduler (createScheduler over the store adapter of
 * coordinator/adapters/) and the real dispatcher (createDispatcher over the queue adapter).
 *
 * The simulated nodes are in-process fakes of what the control link would report: each node's load
 * (its jobs in flight against its maxJobs) for the dispatcher's node view, and for each offer an
 * immediate acknowledgement through the store (acknowledgeJob) and, after a short simulated run,
 * completeJob. No network: the benchmark measures the coordinator's own work — scheduling,
 * dispatch and the store's fsynced job changes — not libp2p.
 *
 * The scheduler and the dispatcher share a lifecycle event bus, as in the coordinator
 * (coordinator-runtime.ts): a job the scheduler queues pokes the dispatcher at once.
 *
 * Plans (100 VMs each, all at one site) are anchored a little apart over the first minute and
 * interleaved across sites, so the 10,000 cycles a minute arrive as a steady stream at every site
 * rather than one burst (a real fleet's plans are enabled at different times). The simulated nodes
 * announce MAX_JOBS_PER_NODE slots and the dispatcher is given the same cap, so a plan's burst of
 * 100 jobs finds free nodes at its site: the run measures dispatch, not node capacity. Jobs that
 * found no eligible node are counted and printed all the same.
 *
 * Printed, and returned by runDispatchBench: sustained jobs/s (completed over the run); and three
 * latencies, all ending when the JOB_OFFER is sent:
 * - *dispatch latency* (the target, dispatcher.latency()): from the job's `queuedAt` — the time
 *   its enqueuer stamped on it (the scheduler stamps its pass time) — or its `notBefore` if later.
 *   For a scheduled job this includes the scheduler's own time to enqueue it;
 * - *committed → offer*: from the moment the enqueue was durable and the job visible in the queue
 *   (the part the dispatcher and the store's writes decide);
 * - *due → offer*: from the plan's due time, so it includes the scheduler's tick (1 s here).
 * Then CPU of this process over the run (process.cpuUsage delta / wall time; it includes the
 * simulated nodes, so it is an upper bound for the coordinator), peak RSS (VmHWM from
 * /proc/self/status), and the store's commit groups, against the targets: under one core, under
 * 512 MiB, p99 dispatch latency < 100 ms.
 *
 *   node dist/bench/dispatch-load.js [--vms 10000] [--nodes 100] [--seconds 60]
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createDispatchQueueAdapter, createSchedulerStoreAdapter } from '../coordinator/adapters/index.js'
import type { DispatchNode, JobOfferBody } from '../coordinator/dispatch/dispatch-ports.js'
import { createDispatcher } from '../coordinator/dispatch/dispatcher.js'
import { LatencyHistogram, type LatencySnapshot } from '../coordinator/dispatch/latency-histogram.js'
import { createLifecycleEvents } from '../coordinator/events/lifecycle-events.js'
import type { CoordinatorLogger } from '../coordinator/events/logger.js'
import { createScheduler } from '../coordinator/scheduling/scheduler.js'
import { createLevelStore, type LevelMetadataStore } from '../coordinator/store/level-store.js'
import '../protocol/promise-with-resolvers.js'

export interface DispatchBenchOptions {
  /** Protected VMs (1 – 100,000). Default 10,000. */
  vms?: number
  /** Simulated nodes (2 – 1,000), a tenth of them connectors. Default 100. */
  nodes?: number
  /** Length of the measured run (1 – 600 s). Default 60. */
  seconds?: number
  /** Simulated run time of each job. Default 2 s. */
  jobMs?: number
  log?: (line: string) => void
}

export interface DispatchBenchResult {
  vms: number
  nodes: number
  seconds: number
  jobsCompleted: number
  jobsOffered: number
  jobsPerSecond: number
  /** Dispatch latency (the target): the job's queuedAt, stamped by whoever enqueued it → offer sent. */
  p50Ms: number
  p99Ms: number
  /** First offers of scheduled jobs: their enqueue committed (in the queue, visible) → offer sent. */
  committedP50Ms: number
  committedP99Ms: number
  /** First offers of scheduled jobs: the plan's due time → offer sent (the scheduler's tick included). */
  dueP50Ms: number
  dueP99Ms: number
  /** Jobs the dispatcher found with no eligible node at least once (every node of the site at its cap). */
  jobsWaitedForNode: number
  /** The store's commit groups over the run: how many, and changes per group. */
  commitGroups: number
  changesPerGroup: number
  /** CPU time of the process over the run / wall time (1 = one core). */
  cpuCores: number
  peakRssMiB: number
  targets: { underOneCore: boolean; under512MiB: boolean; p99Under100Ms: boolean }
}

const TENANT = 'bench'
const SITES = 10
const VMS_PER_PLAN = 100
const MINUTE = 60_000
const MAX_JOBS_PER_NODE = 16
const HEARTBEAT_MS = 10_000

function bounded(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`)
  }
  return value
}

function peerId(n: number): string {
  return `12D3KooW${String(n).padStart(44, 'A')}`
}

/** VmHWM: the peak resident set of this process, in MiB (getrusage would count the parent's). */
function peakRssMiB(): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))
  return match === null
    ? Math.round(process.memoryUsage().rss / 1024 / 1024)
    : Math.round(Number(match[1]) / 1024)
}

interface FakeNode extends DispatchNode {
  active: number
}

async function populate(store: LevelMetadataStore, vms: number, nodeCount: number, now: number) {
  await store.createTenant({ id: TENANT, name: 'Benchmark' }, now)
  const sites = Math.min(SITES, Math.max(1, Math.floor(nodeCount / 2)))
  for (let s = 0; s < sites; s++) await store.createSite(TENANT, { id: `site-${s}`, name: `Site ${s}` }, now)
  const nodes: FakeNode[] = []
  for (let n = 0; n < nodeCount; n++) {
    const siteId = `site-${n % sites}`
    // One node in ten is a connector: every site needs one, as the target of its neighbour's plans.
    const role = n < sites ? 'connector' : 'appliance'
    const { token } = await store.createEnrolmentToken(TENANT, siteId, role, MINUTE, now)
    await store.redeemEnrolmentToken(token, peerId(n), role, now)
    nodes.push({ nodeId: peerId(n), tenantId: TENANT, siteId, role, online: true, active: 0 })
  }
  const vmIds: string[][] = Array.from({ length: sites }, () => [])
  for (let v = 0; v < vms; v++) {
    const s = v % sites
    const id = `vm-${v}`
    await store.createProtectedVm(
      TENANT,
      {
        id,
        name: `VM ${v}`,
        siteId: `site-${s}`,
        volumes: [{ id: `disk-${v}`, size: 1 << 30, blockSize: 65_536 }],
      },
      now,
    )
    vmIds[s].push(id)
  }
  return { nodes, sites, vmIds }
}

export async function runDispatchBench(options: DispatchBenchOptions = {}): Promise<DispatchBenchResult> {
  const vms = bounded('vms', options.vms ?? 10_000, 1, 100_000)
  const nodeCount = bounded('nodes', options.nodes ?? 100, 2, 1000)
  const seconds = bounded('seconds', options.seconds ?? 60, 1, 600)
  const jobMs = bounded('jobMs', options.jobMs ?? 2000, 0, MINUTE)
  const log = options.log ?? console.log
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-dispatch-bench-'))
  const location = join(dir, 'store')
  const controller = new AbortController()
  try {
    // Setup without fsync (it is not measured), then the run on a store that fsyncs as in production.
    log(`dispatch-load: populating ${vms} VMs, ${nodeCount} nodes in ${location}`)
    const setup = createLevelStore({ location, sync: false })
    await setup.open()
    const world = await populate(setup, vms, nodeCount, Date.now())
    const plans = Math.ceil(vms / VMS_PER_PLAN)
    const plansPerSite = Math.ceil(Math.max(...world.vmIds.map((ids) => ids.length)) / VMS_PER_PLAN)
    const anchorBase = Date.now() + 2000
    let planNo = 0
    for (let s = 0; s < world.sites; s++) {
      const ids = world.vmIds[s]
      for (let i = 0; i < ids.length; i += VMS_PER_PLAN) {
        // Anchors spread over the minute and interleaved across sites: the n-th plan of site s first
        // runs in slot n·sites + s. (Consecutive slots for one site's plans would make each site take
        // its whole minute of work within a few seconds — a per-site overload that measures the
        // site's node capacity, not dispatch.)
        const slot = (i / VMS_PER_PLAN) * world.sites + s
        const anchor = anchorBase + Math.floor((slot * MINUTE) / (plansPerSite * world.sites))
        await setup.createPlan(
          TENANT,
          {
            id: `plan-${planNo}`,
            name: `Plan ${planNo}`,
            groups: [{ vmIds: ids.slice(i, i + VMS_PER_PLAN) }],
            schedule: { kind: 'interval', everyMs: MINUTE },
            job: { type: 'replication-cycle' },
            retention: { count: 24, preservedTags: [] },
            sourceSiteId: `site-${s}`,
            targetSiteId: `site-${(s + 1) % world.sites}`,
            enabled: true,
          },
          anchor,
        )
        planNo++
      }
    }
    await setup.close()

    const store = createLevelStore({ location })
    await store.open()
    const nodesById = new Map(world.nodes.map((node) => [node.nodeId, node]))
    let completed = 0
    let offered = 0
    let failures = 0
    const running = new Set<Promise<void>>()
    // As in the coordinator (coordinator-runtime.ts): a job the scheduler queues pokes the dispatcher.
    const events = createLifecycleEvents()
    // When each scheduled job was due, and when its enqueue was committed (the scheduler's port, watched).
    const scheduled = new Map<string, { dueAt: number; committedAt: number }>()
    const dueToOffer = new LatencyHistogram()
    const committedToOffer = new LatencyHistogram()
    // Jobs the dispatcher found without an eligible node (every node of the site at its cap).
    const waitedForNode = new Set<string>()
    const dispatchLog: CoordinatorLogger = {
      debug: () => undefined,
      info: (fields) => {
        const { event, jobId } = fields as { event?: string; jobId?: string }
        if (event === 'job-waiting' && jobId !== undefined) waitedForNode.add(jobId)
      },
      warn: () => undefined,
      error: () => undefined,
    }

    const nodeView = {
      nodesOfSite(tenantId: string, siteId: string): DispatchNode[] {
        const now = Date.now()
        return world.nodes
          .filter((node) => node.tenantId === tenantId && node.siteId === siteId)
          .map((node) => ({
            ...node,
            load: {
              activeJobs: node.active,
              maxJobs: MAX_JOBS_PER_NODE,
              cpu: node.active / MAX_JOBS_PER_NODE,
              receivedAt: now,
              intervalMs: HEARTBEAT_MS,
            },
          }))
      },
    }

    // The fake node: acknowledges at once, "runs" for jobMs, reports its result.
    const runJob = async (nodeId: string, offer: JobOfferBody): Promise<void> => {
      const node = nodesById.get(nodeId)!
      node.active++
      try {
        await store.acknowledgeJob(TENANT, offer.jobId, nodeId, offer.leaseId, Date.now())
        await new Promise((resolve) => setTimeout(resolve, jobMs))
        if (controller.signal.aborted) return
        await store.completeJob(TENANT, offer.jobId, offer.leaseId, Date.now(), { bytes: 0 })
        completed++
      } catch {
        failures++
      } finally {
        node.active--
      }
    }

    const dispatcher = createDispatcher(
      // The nodes announce MAX_JOBS_PER_NODE slots; the dispatcher's own cap (8 by default) would
      // halve that and make a plan's 100-VM burst (one site, 9 appliances) wait for free slots,
      // which measures node capacity rather than dispatch.
      { intervalMs: 100, maxActiveJobs: MAX_JOBS_PER_NODE, signal: controller.signal },
      {
        queue: createDispatchQueueAdapter({}, { store }),
        nodes: nodeView,
        events,
        log: dispatchLog,
        offer: async (nodeId, offer) => {
          offered++
          const times = scheduled.get(offer.jobId)
          if (times !== undefined && offer.attempt === 1) {
            scheduled.delete(offer.jobId)
            const sentAt = Date.now()
            dueToOffer.record(sentAt - times.dueAt)
            committedToOffer.record(sentAt - times.committedAt)
          }
          const job = runJob(nodeId, offer).finally(() => running.delete(job))
          running.add(job)
        },
      },
    )
    // The scheduler's port, watched: when each job was due, and when its enqueue was committed.
    const schedulerStore = createSchedulerStoreAdapter({}, { store })
    const enqueueOf = schedulerStore.enqueue.bind(schedulerStore)
    schedulerStore.enqueue = async (job) => {
      const outcome = await enqueueOf(job)
      if (outcome.enqueued) scheduled.set(job.jobId, { dueAt: job.dueAt, committedAt: Date.now() })
      return outcome
    }
    const scheduler = createScheduler(
      { intervalMs: 1000, signal: controller.signal },
      { store: schedulerStore, events },
    )

    log(`dispatch-load: ${plans} plans, running for ${seconds} s`)
    const cpuBefore = process.cpuUsage()
    const wallBefore = performance.now()
    scheduler.start()
    dispatcher.start()
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
    const cpu = process.cpuUsage(cpuBefore)
    const wallMs = performance.now() - wallBefore
    const latency = dispatcher.latency()
    const committed = committedToOffer.snapshot()
    const due = dueToOffer.snapshot()
    const commits = store.commitStats()
    const doneInRun = completed
    controller.abort()
    await scheduler.stop()
    await dispatcher.stop()
    await Promise.allSettled([...running])
    await store.close()

    const cpuCores = (cpu.user + cpu.system) / 1000 / wallMs
    const rss = peakRssMiB()
    const result: DispatchBenchResult = {
      vms,
      nodes: nodeCount,
      seconds,
      jobsCompleted: doneInRun,
      jobsOffered: offered,
      jobsPerSecond: doneInRun / (wallMs / 1000),
      p50Ms: latency.p50,
      p99Ms: latency.p99,
      committedP50Ms: committed.p50,
      committedP99Ms: committed.p99,
      dueP50Ms: due.p50,
      dueP99Ms: due.p99,
      jobsWaitedForNode: waitedForNode.size,
      commitGroups: commits.groups,
      changesPerGroup: commits.groups === 0 ? 0 : commits.changes / commits.groups,
      cpuCores,
      peakRssMiB: rss,
      targets: { underOneCore: cpuCores < 1, under512MiB: rss < 512, p99Under100Ms: latency.p99 < 100 },
    }
    const met = (ok: boolean) => (ok ? 'met' : 'NOT met')
    log(`dispatch-load: ${vms} VMs, ${nodeCount} nodes, ${seconds} s (${failures} job changes refused)`)
    log(
      `  sustained        ${result.jobsPerSecond.toFixed(1)} jobs/s (${doneInRun} completed, ${offered} offered)`,
    )
    log(
      `  dispatch latency p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms (${latency.count} offers; queuedAt → offer sent)`,
    )
    log(`  committed → offer ${fmt(committed)}   due → offer ${fmt(due)}`)
    log(
      `  ${result.jobsWaitedForNode} jobs waited for a free node; ${commits.groups} commit groups, ${result.changesPerGroup.toFixed(1)} changes each (largest ${commits.largestGroup}); planning ${commits.planMs.toFixed(0)} ms (longest group ${commits.longestPlanMs.toFixed(0)}), writing ${commits.writeMs.toFixed(0)} ms (longest ${commits.longestWriteMs.toFixed(0)})`,
    )
    log(
      `  CPU              ${cpuCores.toFixed(2)} cores   target < 1 core: ${met(result.targets.underOneCore)}`,
    )
    log(`  peak RSS         ${rss} MiB   target < 512 MiB: ${met(result.targets.under512MiB)}`)
    log(`  p99 latency      target < 100 ms: ${met(result.targets.p99Under100Ms)}`)
    return result
  } finally {
    controller.abort()
    await rm(dir, { recursive: true, force: true })
  }
}

function fmt(latency: LatencySnapshot): string {
  return `p50 ${latency.p50.toFixed(1)} / p99 ${latency.p99.toFixed(1)} ms (${latency.count})`
}

function argument(args: string[], name: string): number | undefined {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? undefined : Number(args[i + 1])
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2)
  runDispatchBench({
    vms: argument(args, 'vms'),
    nodes: argument(args, 'nodes'),
    seconds: argument(args, 'seconds'),
  })
    .then(() => process.exit(0))
    .catch((error) => {
      console.error(error)
      process.exit(1)
    })
}

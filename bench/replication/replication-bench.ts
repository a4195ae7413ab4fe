/**
 * `npm run bench:replication` (issue 5 §8): Lifeboat's replication side by side with rsync, on one
 * machine over 127.0.0.1, in one run:
 *
 * - *seed*: the first cycle of a mixed image (REPLICATION_IMAGE_BYTES) to an empty connector vs
 *   `rsyncSeed` to an empty module;
 * - *incremental*: after 1 % of the 64 KiB blocks changed at random, a full-hash cycle (every
 *   block read and hashed, the changed ones sent) vs `rsyncIncremental`;
 * - *tracked*: the same kind of change reported in a changed-extents file (the hypervisor's change
 *   block tracking, CBT), so the cycle reads only those extents, vs `rsyncIncremental`.
 *
 * The coordinator runs in this process (its store and dispatcher; its CPU is not counted); the
 * appliance and the connector are child processes of the built CLI (node-process.ts), so their
 * peak RSS and CPU time are theirs alone. A Lifeboat cycle is timed from the enqueue
 * (`runPlanNow`) to the job seen succeeded; the appliance's own `durationMs` (volume opened →
 * commit acknowledged) is reported beside it. After each cycle the point must be in the catalogue
 * with the summary's map digest, and that digest must equal the one of an independent
 * `lifeboat scan` of the same image (the *scan alone*, also timed: it tells how much of a cycle is
 * the scan). rsync's target is compared byte for byte by the harness, outside its timing.
 *
 * A *round* is one fresh set of nodes, rsync module and temporary folders running the three cases;
 * who goes first (rsync or Lifeboat) alternates from round to round. Everything a round starts is
 * stopped and its folder removed whether it succeeds or fails.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { blockMapOf, mapDigestHex } from '../../agent/replication/block-map.js'
import { VOLUME_MAP_FORMAT, VOLUME_MAP_VERSION } from '../../agent/replication/volume-map.js'
import { readBlockIndexFile } from '../../blockio/block-index-file.js'
import { type Coordinator, startCoordinator } from '../../coordinator/control/coordinator-runtime.js'
import { issueEnrolmentToken } from '../../coordinator/control/index.js'
import type { Job } from '../../coordinator/jobs/job.js'
import { runTool } from '../../demo/run-tool.js'
import { type PointSummary, pointsOfSummary } from '../../protocol/index.js'
import { median } from '../peer-tools.js'
import { invalidBenchOption } from './bench-errors.js'
import { REPLICATION_IMAGE_BYTES, writeBenchImage } from './bench-image.js'
import { writeExtentsFile } from './extents-file.js'
import { CLI_PATH, type NodeProcess, startNodeProcess } from './node-process.js'
import { MUTATION_BLOCK_SIZE, mutateRandomBlocks } from './random-block-mutation.js'
import { cycleFailed, cycleWrong } from './replication-bench-errors.js'
import { type RsyncDaemon, startRsyncDaemon } from './rsync-daemon.js'
import { type RsyncTransfer, rsyncIncremental, rsyncSeed } from './rsync-transfer.js'

export const DEFAULT_RUNS = 3
/** Share of blocks changed before each incremental cycle (issue 5 §8: 1 %). */
export const DEFAULT_CHANGE_FRACTION = 0.01
/** Time limit of one Lifeboat cycle, enqueue to final state. */
export const DEFAULT_JOB_TIMEOUT_MS = 15 * 60_000
/** Time limit of one rsync transfer and of one `lifeboat scan`. */
export const DEFAULT_TOOL_TIMEOUT_MS = 15 * 60_000
/** Targets of issue 5 §8: rsync time / Lifeboat time, and each node's peak RSS. */
export const TARGETS = { seed: 1, incremental: 4, tracked: 20, rssBytes: 512 * 1024 * 1024 } as const

const TENANT = 'bench'
const SOURCE_SITE = 'dc1'
const TARGET_SITE = 'cloud'
const VM = 'vm1'
const VOLUME = 'vol1'
const PLAN = 'replicate'
const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
const POLL_MS = 20
/** Schedules the bench never reaches by itself: cycles run only when it asks. */
const FAR_MS = 31 * 24 * 3600 * 1000

export type CaseName = 'seed' | 'incremental' | 'tracked'
export const CASES: readonly CaseName[] = ['seed', 'incremental', 'tracked']

export interface ReplicationBenchInit {
  /** Default REPLICATION_IMAGE_BYTES; a positive multiple of 64 KiB. */
  sizeBytes?: number
  /** Default DEFAULT_RUNS. */
  runs?: number
  /** Default DEFAULT_CHANGE_FRACTION. */
  fraction?: number
  /** Parent of the run's temporary folder; default the system's. */
  workDir?: string
  jobTimeoutMs?: number
  toolTimeoutMs?: number
  /** Node options of the appliance and connector processes (e.g. `--cpu-prof` for profiling). */
  nodeArgs?: readonly string[]
  log?: (line: string) => void
}

/** One Lifeboat cycle as measured from outside and reported by the appliance. */
export interface CycleFigures {
  jobId: string
  /** Enqueue → job seen succeeded, by this process's clock. */
  wallMs: number
  /** The appliance's `durationMs`: volume opened → commit acknowledged. */
  applianceMs: number
  /** Enqueued → acknowledged by the appliance (the store's clock): dispatch and offer. */
  dispatchMs: number
  /** Enqueued → finished, by the store's clock (wallMs less the time to see it). */
  storeMs: number
  bytesRead: number
  changedBlocks: number
  heldRecords: number
  payloadBytes: number
  applianceCpuSeconds: number
  connectorCpuSeconds: number
}

export interface CaseRound {
  lifeboat: CycleFigures
  rsync: Pick<RsyncTransfer, 'ms' | 'sentBytes'>
  /** `lifeboat scan` of the same input as a child process (start-up included). */
  scanAloneMs: number
  /** Its CPU seconds (NaN without GNU time). */
  scanAloneCpuSeconds: number
  /** rsync ms / Lifeboat wall ms. */
  ratio: number
}

export interface RoundResult {
  cases: Record<CaseName, CaseRound>
  /** Blocks changed before the incremental and the tracked cycle. */
  changedBlocks: number
  applianceRssBytes: number
  connectorRssBytes: number
}

export interface ReplicationBenchResult {
  sizeBytes: number
  fraction: number
  rounds: RoundResult[]
}

export async function runReplicationBench(init: ReplicationBenchInit = {}): Promise<ReplicationBenchResult> {
  const sizeBytes = init.sizeBytes ?? REPLICATION_IMAGE_BYTES
  const runs = init.runs ?? DEFAULT_RUNS
  const fraction = init.fraction ?? DEFAULT_CHANGE_FRACTION
  const log = init.log ?? (() => undefined)
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % MUTATION_BLOCK_SIZE !== 0)
    throw invalidBenchOption('sizeBytes', `is ${sizeBytes}; expected a positive multiple of 65536`)
  if (!Number.isInteger(runs) || runs < 1 || runs > 100)
    throw invalidBenchOption('runs', `is ${runs}; expected a whole number from 1 to 100`)
  const work = await mkdtemp(join(init.workDir ?? tmpdir(), 'lifeboat-replication-bench-'))
  try {
    const image = join(work, 'vol1.raw')
    log(`writing a ${(sizeBytes / 2 ** 20).toFixed(0)} MiB mixed image`)
    await writeBenchImage(image, { sizeBytes, seed: 1 })
    const rounds: RoundResult[] = []
    for (let n = 0; n < runs; n++) {
      log(`round ${n + 1}/${runs}`)
      const dir = join(work, `round-${n + 1}`)
      await mkdir(dir)
      try {
        rounds.push(await runRound({ image, dir, n, sizeBytes, fraction, log, init }))
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    }
    return { sizeBytes, fraction, rounds }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

interface RoundInit {
  image: string
  dir: string
  n: number
  sizeBytes: number
  fraction: number
  log: (line: string) => void
  init: ReplicationBenchInit
}

/** The parts a round started, stopped in reverse order whatever happens. */
class RoundParts {
  readonly #stops: Array<() => Promise<void>> = []
  add(stop: () => Promise<void>): void {
    this.#stops.push(stop)
  }
  async stopAll(): Promise<void> {
    for (const stop of this.#stops.reverse()) await stop().catch(() => undefined)
  }
}

async function runRound(r: RoundInit): Promise<RoundResult> {
  const parts = new RoundParts()
  try {
    const { coordinator, appliance, connector, extentsPath } = await startNodes(
      r.dir,
      r.image,
      r.sizeBytes,
      r.init.nodeArgs,
      parts,
    )
    const rsyncDir = join(r.dir, 'rsync-target')
    await mkdir(rsyncDir)
    const daemon = await startRsyncDaemon({ dir: rsyncDir })
    parts.add(() => daemon.stop())
    const toolTimeoutMs = r.init.toolTimeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS
    const jobTimeoutMs = r.init.jobTimeoutMs ?? DEFAULT_JOB_TIMEOUT_MS
    const rsyncFirst = r.n % 2 === 0
    const cycle = () => runCycle(coordinator, appliance, connector, jobTimeoutMs)
    const both = async (
      rsyncRun: (image: string, daemon: RsyncDaemon) => Promise<RsyncTransfer>,
    ): Promise<[RsyncTransfer, CycleResult]> => {
      if (rsyncFirst) {
        const transfer = await rsyncRun(r.image, daemon)
        return [transfer, await cycle()]
      }
      const result = await cycle()
      return [await rsyncRun(r.image, daemon), result]
    }
    const rsyncOptions = { timeoutMs: toolTimeoutMs }
    const indexes = [0, 1, 2].map((i) => join(r.dir, `scan-${i}.index`))

    // (a) seed.
    const [seedRsync, seedCycle] = await both((image, d) => rsyncSeed(image, d, rsyncOptions))
    expectFigure(seedCycle, 'bytesRead', r.sizeBytes, 'the seed reads the whole image')
    const seedScan = await scanAlone(r.image, ['--index', indexes[0]!], toolTimeoutMs)
    await expectSameMap(seedCycle, indexes[0]!)
    r.log(caseLine('seed', seedRsync, seedCycle, seedScan))

    // (b) incremental, full hash.
    const first = await mutateRandomBlocks(r.image, { fraction: r.fraction, seed: 1000 + 2 * r.n })
    const [incRsync, incCycle] = await both((image, d) => rsyncIncremental(image, d, rsyncOptions))
    expectFigure(incCycle, 'bytesRead', r.sizeBytes, 'a cycle without change tracking reads every block')
    expectFigure(incCycle, 'changedBlocks', first.blocks.length, 'the cycle finds every changed block')
    const incScan = await scanAlone(
      r.image,
      ['--previous', indexes[0]!, '--index', indexes[1]!],
      toolTimeoutMs,
    )
    await expectSameMap(incCycle, indexes[1]!)
    r.log(caseLine('incremental', incRsync, incCycle, incScan))

    // (c) incremental with change tracking: the appliance reads the extents file, then deletes it.
    const second = await mutateRandomBlocks(r.image, { fraction: r.fraction, seed: 1001 + 2 * r.n })
    const trackedBytes = second.extents.reduce((sum, e) => sum + e.length, 0)
    await writeExtentsFile(extentsPath, second.extents, second.volumeSize)
    const scanExtents = join(r.dir, 'scan-extents.json')
    await writeExtentsFile(scanExtents, second.extents, second.volumeSize)
    const [cbtRsync, cbtCycle] = await both((image, d) => rsyncIncremental(image, d, rsyncOptions))
    expectFigure(cbtCycle, 'bytesRead', trackedBytes, 'a tracked cycle reads only the extents')
    expectFigure(cbtCycle, 'changedBlocks', second.blocks.length, 'the cycle sends every changed block')
    if (await stat(extentsPath).catch(() => undefined)) {
      throw cycleWrong(`after job ${cbtCycle.figures.jobId} committed, ${extentsPath} was not deleted`)
    }
    const cbtScan = await scanAlone(
      r.image,
      ['--previous', indexes[1]!, '--cbt', scanExtents, '--index', indexes[2]!],
      toolTimeoutMs,
    )
    await expectSameMap(cbtCycle, indexes[2]!)
    r.log(caseLine('tracked', cbtRsync, cbtCycle, cbtScan))

    const caseOf = (rsync: RsyncTransfer, result: CycleResult, scan: ScanAlone): CaseRound => ({
      lifeboat: result.figures,
      rsync: { ms: rsync.ms, sentBytes: rsync.sentBytes },
      scanAloneMs: scan.ms,
      scanAloneCpuSeconds: scan.cpuSeconds,
      ratio: rsync.ms / result.figures.wallMs,
    })
    const round: RoundResult = {
      cases: {
        seed: caseOf(seedRsync, seedCycle, seedScan),
        incremental: caseOf(incRsync, incCycle, incScan),
        tracked: caseOf(cbtRsync, cbtCycle, cbtScan),
      },
      changedBlocks: first.blocks.length,
      applianceRssBytes: appliance.peakRssBytes(),
      connectorRssBytes: connector.peakRssBytes(),
    }
    r.log(
      `  peak RSS: appliance ${mib(round.applianceRssBytes)} MiB, connector ${mib(round.connectorRssBytes)} MiB`,
    )
    return round
  } finally {
    await parts.stopAll()
  }
}

interface Nodes {
  coordinator: Coordinator
  appliance: NodeProcess
  connector: NodeProcess
  /** Where the appliance looks for the volume's changed-extents file. */
  extentsPath: string
}

/** The coordinator (here), the connector and the appliance (children), the VM and its plan. */
async function startNodes(
  dir: string,
  image: string,
  sizeBytes: number,
  nodeArgs: readonly string[] | undefined,
  parts: RoundParts,
): Promise<Nodes> {
  const now = Date.now()
  const coordinator = await startCoordinator({
    dataDir: join(dir, 'coordinator'),
    listen: [LOOPBACK],
    enrolListen: [LOOPBACK],
    jobs: { dispatchIntervalMs: 100, schedulerIntervalMs: 60_000, maxCpu: 1 },
  })
  parts.add(() => coordinator.stop())
  const extentsPath = join(dir, 'vol1.extents.json')
  const volumeMap = join(dir, 'volumes.json')
  const map = {
    format: VOLUME_MAP_FORMAT,
    version: VOLUME_MAP_VERSION,
    volumes: { [VOLUME]: { path: image, changedExtents: extentsPath } },
  }
  await writeFile(volumeMap, `${JSON.stringify(map)}\n`, { mode: 0o600 })
  const start = async (role: 'appliance' | 'connector', site: string): Promise<NodeProcess> => {
    const { token } = await issueEnrolmentToken(coordinator.store, { tenant: TENANT, site, role }, Date.now())
    const node = await startNodeProcess({
      role,
      dataDir: join(dir, role),
      coordinator: coordinator.server.addresses()[0]!,
      enrolAddress: coordinator.server.enrolAddresses()[0]!,
      token,
      nodeArgs,
      ...(role === 'appliance' ? { volumeMap } : {}),
    })
    parts.add(() => node.stop())
    return node
  }
  const connector = await start('connector', TARGET_SITE)
  const appliance = await start('appliance', SOURCE_SITE)
  await waitUntil(
    () =>
      coordinator.server.blockAddressesOf(connector.nodeId) !== undefined &&
      coordinator.server.loadOf(appliance.nodeId) !== undefined,
    30_000,
    () => `the appliance and the connector to connect (appliance: ${appliance.tail()})`,
  )
  await coordinator.store.createProtectedVm(
    TENANT,
    { id: VM, name: VM, siteId: SOURCE_SITE, volumes: [{ id: VOLUME, size: sizeBytes, blockSize: 65_536 }] },
    now,
  )
  await coordinator.store.createPlan(
    TENANT,
    {
      id: PLAN,
      name: PLAN,
      groups: [{ vmIds: [VM] }],
      schedule: { kind: 'interval', everyMs: FAR_MS },
      job: { type: 'replication-cycle' },
      retention: { count: 10, preservedTags: [] },
      sourceSiteId: SOURCE_SITE,
      targetSiteId: TARGET_SITE,
      enabled: true,
    },
    now,
  )
  return { coordinator, appliance, connector, extentsPath }
}

interface CycleResult {
  figures: CycleFigures
  point: PointSummary
}

/** Runs one cycle now, waits for it, checks the catalogue; times enqueue → succeeded. */
async function runCycle(
  coordinator: Coordinator,
  appliance: NodeProcess,
  connector: NodeProcess,
  timeoutMs: number,
): Promise<CycleResult> {
  const applianceCpu = appliance.cpuSeconds()
  const connectorCpu = connector.cpuSeconds()
  const started = performance.now()
  const [run] = await coordinator.runPlanNow(TENANT, PLAN, { vmIds: [VM] })
  if (run === undefined || !run.outcome.enqueued)
    throw cycleFailed(`plan ${PLAN} did not enqueue a cycle of ${VM}`)
  let job: Job | undefined
  await waitUntil(
    async () => {
      job = await coordinator.store.getJob(TENANT, run.jobId)
      return (
        job !== undefined &&
        (job.state === 'succeeded' || job.state === 'failed' || job.state === 'cancelled')
      )
    },
    timeoutMs,
    () => `job ${run.jobId} to finish (state ${job?.state}; appliance: ${appliance.tail()})`,
  )
  const wallMs = performance.now() - started
  const done = job!
  if (done.state !== 'succeeded') {
    throw cycleFailed(
      `job ${done.id} ${done.state}: ${done.error?.code ?? ''} ${done.error?.message ?? 'no reason recorded'} (appliance: ${appliance.tail()}; connector: ${connector.tail()})`,
    )
  }
  const figures: CycleFigures = {
    jobId: done.id,
    wallMs,
    applianceMs: numberOf(done, 'durationMs'),
    dispatchMs: (done.startedAt ?? done.createdAt) - done.createdAt,
    storeMs: (done.finishedAt ?? done.createdAt) - done.createdAt,
    bytesRead: numberOf(done, 'bytesRead'),
    changedBlocks: numberOf(done, 'changedBlocks'),
    heldRecords: numberOf(done, 'heldRecords'),
    payloadBytes: numberOf(done, 'payloadBytes'),
    applianceCpuSeconds: appliance.cpuSeconds() - applianceCpu,
    connectorCpuSeconds: connector.cpuSeconds() - connectorCpu,
  }
  const { points } = pointsOfSummary(done.result)
  const point = points.find((p) => p.volumeId === VOLUME)
  if (point === undefined) throw cycleWrong(`job ${done.id} succeeded without naming a point of ${VOLUME}`)
  // The catalogue follows the succeeded event; wait for it, outside the timing.
  await waitUntil(
    async () =>
      (await coordinator.store.listRecoveryPoints(TENANT, VM, VOLUME)).some(
        (p) => p.id === point.pointId && p.blockMapDigest === point.mapDigest,
      ),
    10_000,
    () => `point ${point.pointId} of job ${done.id} to be catalogued with map digest ${point.mapDigest}`,
    cycleWrong,
  )
  return { figures, point }
}

function numberOf(job: Job, key: string): number {
  const value = job.result?.[key]
  if (typeof value !== 'number') throw cycleWrong(`job ${job.id}'s summary has no number ${key}`)
  return value
}

function expectFigure(result: CycleResult, key: keyof CycleFigures, expected: number, why: string): void {
  const actual = result.figures[key]
  if (actual !== expected) {
    throw cycleWrong(`job ${result.figures.jobId}: ${key} is ${actual}, expected ${expected} (${why})`)
  }
}

/** The committed map must be the map of an independent scan of the same image. */
async function expectSameMap(result: CycleResult, indexPath: string): Promise<void> {
  const digest = mapDigestHex(blockMapOf(await readBlockIndexFile(indexPath)))
  if (digest !== result.point.mapDigest) {
    throw cycleWrong(
      `job ${result.figures.jobId} committed map digest ${result.point.mapDigest}, but lifeboat scan of the image gives ${digest}`,
    )
  }
}

/** GNU time, to read the CPU seconds of the scan alone; without it they are NaN. */
const TIME_TOOL = '/usr/bin/time'
const CPU_LINE = 'lifeboat-bench-cpu'

interface ScanAlone {
  ms: number
  /** User + system CPU seconds (every thread); NaN without GNU time. */
  cpuSeconds: number
}

/** `lifeboat scan <image> --json …` as a child process: its wall clock, and its CPU under GNU time. */
async function scanAlone(image: string, args: string[], timeoutMs: number): Promise<ScanAlone> {
  const scan = [process.execPath, CLI_PATH, 'scan', image, '--json', ...args]
  const timed = existsSync(TIME_TOOL)
  const run = timed
    ? await runTool(TIME_TOOL, ['-f', `${CPU_LINE} %U %S`, ...scan], { timeoutMs })
    : await runTool(scan[0]!, scan.slice(1), { timeoutMs })
  if (run.timedOut || run.code !== 0) {
    const detail = run.stderr.trim().split('\n').slice(-3).join(' | ')
    throw cycleFailed(
      `lifeboat scan ${args.join(' ')} ${run.timedOut ? `timed out after ${timeoutMs} ms` : `exited ${run.signal ?? run.code}`}: ${detail}`,
      run.timedOut,
    )
  }
  const cpu = new RegExp(`^${CPU_LINE} ([\\d.]+) ([\\d.]+)$`, 'm').exec(run.stderr)
  return { ms: run.ms, cpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : Number.NaN }
}

async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: () => string,
  fail: (message: string) => Error = (message) => cycleFailed(message, true),
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw fail(`gave up waiting after ${timeoutMs} ms for ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

function caseLine(name: CaseName, rsync: RsyncTransfer, cycle: CycleResult, scan: ScanAlone): string {
  const f = cycle.figures
  return (
    `  ${name}: rsync ${s(rsync.ms)} s, Lifeboat ${s(f.wallMs)} s (dispatch ${s(f.dispatchMs)} s, appliance ${s(f.applianceMs)} s, finished in the store at ${s(f.storeMs)} s; scan alone ${s(scan.ms)} s, ${scan.cpuSeconds.toFixed(1)} CPU s) → ${(rsync.ms / f.wallMs).toFixed(2)}×; ` +
    `CPU appliance ${f.applianceCpuSeconds.toFixed(1)} s, connector ${f.connectorCpuSeconds.toFixed(1)} s; ` +
    `sent ${mib(f.payloadBytes)} MiB vs rsync ${mib(rsync.sentBytes)} MiB`
  )
}

const s = (ms: number): string => (ms / 1000).toFixed(2)
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)

/** The medians of every figure over the rounds (ratios: the median of the per-round ratios). */
export interface CaseSummary {
  rsyncMs: number
  wallMs: number
  applianceMs: number
  dispatchMs: number
  scanAloneMs: number
  scanAloneCpuSeconds: number
  ratio: number
  target: number
  applianceCpuSeconds: number
  connectorCpuSeconds: number
  payloadBytes: number
  rsyncSentBytes: number
}

export function summariseCase(result: ReplicationBenchResult, name: CaseName): CaseSummary {
  const of = (pick: (c: CaseRound) => number) => median(result.rounds.map((r) => pick(r.cases[name])))
  return {
    rsyncMs: of((c) => c.rsync.ms),
    wallMs: of((c) => c.lifeboat.wallMs),
    applianceMs: of((c) => c.lifeboat.applianceMs),
    dispatchMs: of((c) => c.lifeboat.dispatchMs),
    scanAloneMs: of((c) => c.scanAloneMs),
    scanAloneCpuSeconds: of((c) => c.scanAloneCpuSeconds),
    ratio: of((c) => c.ratio),
    target: TARGETS[name],
    applianceCpuSeconds: of((c) => c.lifeboat.applianceCpuSeconds),
    connectorCpuSeconds: of((c) => c.lifeboat.connectorCpuSeconds),
    payloadBytes: of((c) => c.lifeboat.payloadBytes),
    rsyncSentBytes: of((c) => c.rsync.sentBytes),
  }
}

/** The Markdown table and lines of docs/BENCHMARKS.md's generated "replication" section. */
export function formatReplicationBench(result: ReplicationBenchResult, command: string): string {
  const met = (ok: boolean) => (ok ? 'met' : '**NOT met**')
  const labels: Record<CaseName, string> = {
    seed: '(a) seed, empty target',
    incremental: `(b) ${pct(result.fraction)} of 64 KiB blocks changed, full hash`,
    tracked: `(c) ${pct(result.fraction)} changed, CBT extents file`,
  }
  const rows = CASES.map((name) => {
    const c = summariseCase(result, name)
    return `| ${labels[name]} | ${s(c.rsyncMs)} | ${s(c.wallMs)} | **${c.ratio.toFixed(2)}×** | ≥ ${c.target}×: ${met(c.ratio >= c.target)} | ${s(c.dispatchMs)} | ${s(c.applianceMs)} | ${s(c.scanAloneMs)} / ${c.scanAloneCpuSeconds.toFixed(1)} | ${c.applianceCpuSeconds.toFixed(1)} / ${c.connectorCpuSeconds.toFixed(1)} | ${mib(c.payloadBytes)} / ${mib(c.rsyncSentBytes)} |`
  })
  const rss = (pick: (r: RoundResult) => number) => median(result.rounds.map(pick))
  const applianceRss = rss((r) => r.applianceRssBytes)
  const connectorRss = rss((r) => r.connectorRssBytes)
  const maxRss = (pick: (r: RoundResult) => number) => Math.max(...result.rounds.map(pick))
  const rounds = result.rounds.length
  return [
    `${(result.sizeBytes / 2 ** 20).toFixed(0)} MiB mixed image, ${result.rounds[0]?.changedBlocks ?? 0} blocks changed per incremental, medians of ${rounds} round${rounds === 1 ? '' : 's'} (\`${command}\`); per-round ratios (a) ${ratios(result, 'seed')}, (b) ${ratios(result, 'incremental')}, (c) ${ratios(result, 'tracked')}.`,
    '',
    '| case | rsync s | Lifeboat s (enqueue → succeeded) | ratio rsync / Lifeboat | target | of which enqueue → acknowledged s | appliance cycle s (durationMs) | `lifeboat scan` alone: s / CPU s | cycle CPU s: appliance / connector | MiB sent: Lifeboat / rsync |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Peak RSS (VmHWM, whole round): appliance ${mib(applianceRss)} MiB (max ${mib(maxRss((r) => r.applianceRssBytes))}), connector ${mib(connectorRss)} MiB (max ${mib(maxRss((r) => r.connectorRssBytes))}); target ≤ 512 MiB each: ${met(maxRss((r) => Math.max(r.applianceRssBytes, r.connectorRssBytes)) <= TARGETS.rssBytes)}.`,
  ].join('\n')
}

function ratios(result: ReplicationBenchResult, name: CaseName): string {
  return result.rounds.map((r) => `${r.cases[name].ratio.toFixed(2)}×`).join(', ')
}

const pct = (fraction: number): string => `${+(fraction * 100).toFixed(2)} %`

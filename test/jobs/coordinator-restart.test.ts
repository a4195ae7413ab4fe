// Issue "Coordinator core" §7 with real processes of the built CLI (dist/): a coordinator with a
// 10 s interval replication plan, an appliance that replicates a 64 MiB image (its volume map) and
// a connector that stores it. The coordinator is SIGKILLed at random moments — before, during or
// after a cycle; while it is down the store is audited (indexes agree with records, fencing counters
// cover every token, one active job per VM at most, each offered/running job tied to one node, no
// job lost since the previous audit), then the coordinator restarts on the same data directory and
// port, the nodes reconnect by themselves, and:
// - leases in flight resume or expire: every job running at a kill ends succeeded, either because
//   the appliance's RESULT (replayed after the reconnect) was accepted on a valid lease, or because
//   the lease expired and a retry succeeded — never two attempts running at once;
// - the scheduler resumes: a new job for a later due time is enqueued, never a second for one time.
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { issueEnrolmentToken, storePath } from '../../coordinator/control/index.js'
import type { Job } from '../../coordinator/jobs/job.js'
import { createLevelStore } from '../../coordinator/store/level-store.js'
import { Cleanup, withLimit } from '../control/helpers.js'
import { auditJobIndexes } from '../coordinator/level-job-audit.js'

const CLI = join(import.meta.dirname, '../../dist/cli/main.js')
const cleanup = new Cleanup()
afterEach(() => cleanup.run())

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx tsc -p .\` before this test`)
})

type Line = Record<string, unknown>

class CliProcess {
  readonly child: ChildProcess
  readonly lines: Line[] = []
  stderr = ''
  readonly #waiters = new Set<() => void>()

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    })
    cleanup.add(
      () => this.child.exitCode === null && this.child.signalCode === null && this.child.kill('SIGKILL'),
    )
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line) as Line)
      } catch {
        this.lines.push({ text: line })
      }
      for (const wake of this.#waiters) wake()
    })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString()
    })
  }

  line(match: (line: Line) => boolean, what: string, limitMs = 10_000): Promise<Line> {
    return withLimit(
      new Promise((resolve) => {
        const check = (): void => {
          const found = this.lines.find(match)
          if (found !== undefined) {
            this.#waiters.delete(check)
            resolve(found)
          }
        }
        this.#waiters.add(check)
        check()
      }),
      `${what} (stderr: ${this.stderr.slice(0, 500)})`,
      limitMs,
    )
  }

  event(name: string, extra: Line = {}, limitMs?: number): Promise<Line> {
    return this.line(
      (l) => l.event === name && Object.entries(extra).every(([k, v]) => l[k] === v),
      name,
      limitMs,
    )
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.kill('SIGKILL')
    await withLimit(exited, 'exit after SIGKILL')
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.kill('SIGTERM')
    await withLimit(exited, 'exit after SIGTERM')
  }
}

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const ACTIVE = new Set(['queued', 'offered', 'running'])
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])
const EVERY_MS = 10_000

/** The due time a scheduled job id (`p1.vm1.<dueAt>`) names. */
function dueAt(job: Job): number {
  return Number(job.id.slice(job.id.lastIndexOf('.') + 1))
}

describe('coordinator SIGKILL and restart (CLI processes)', () => {
  it('loses no job, never runs one twice, and resumes its schedule after each SIGKILL', async () => {
    const started = Date.now()
    const dataDir = await cleanup.tempDir('lb-restart-')
    const controlPort = await freePort()
    const enrolPort = await freePort()

    // The tenant, site, VM, an interval plan (anchored so its first run is due in ~1 s) and a
    // token, written to the store before any coordinator runs.
    const store = createLevelStore({ location: storePath(dataDir) })
    await store.open()
    const now = Date.now()
    await store.createTenant({ id: 'acme', name: 'acme' }, now)
    await store.createSite('acme', { id: 'dc1', name: 'dc1' }, now)
    await store.createSite('acme', { id: 'dc2', name: 'dc2' }, now)
    const IMAGE_BYTES = 64 << 20
    const imageDir = await cleanup.tempDir('lb-restart-image-')
    const imagePath = join(imageDir, 'vol1.raw')
    await writeFile(imagePath, randomBytes(IMAGE_BYTES))
    const volumeMap = join(imageDir, 'volumes.json')
    await writeFile(
      volumeMap,
      JSON.stringify({ format: 'lifeboat-volume-map', version: 1, volumes: { vol1: { path: imagePath } } }),
    )
    await store.createProtectedVm(
      'acme',
      {
        id: 'vm1',
        name: 'vm1',
        siteId: 'dc1',
        volumes: [{ id: 'vol1', size: IMAGE_BYTES, blockSize: 65_536 }],
      },
      now,
    )
    await store.createPlan(
      'acme',
      {
        id: 'p1',
        name: 'p1',
        groups: [{ vmIds: ['vm1'] }],
        schedule: { kind: 'interval', everyMs: EVERY_MS },
        job: { type: 'replication-cycle' },
        retention: { count: 3, preservedTags: [] },
        sourceSiteId: 'dc1',
        targetSiteId: 'dc2',
        enabled: true,
      },
      now - EVERY_MS + 1_000,
    )
    const applianceToken = (
      await issueEnrolmentToken(store, { tenant: 'acme', site: 'dc1', role: 'appliance' }, now)
    ).token
    const connectorToken = (
      await issueEnrolmentToken(store, { tenant: 'acme', site: 'dc2', role: 'connector' }, now)
    ).token
    await store.close()

    const coordinatorArgs = [
      'coordinator',
      'start',
      '--data-dir',
      dataDir,
      '--listen',
      `/ip4/127.0.0.1/tcp/${controlPort}`,
      '--enrol-listen',
      `/ip4/127.0.0.1/tcp/${enrolPort}`,
      '--heartbeat-interval',
      '200ms',
      '--scheduler-interval',
      '1s',
      '--dispatch-interval',
      '100ms',
      '--ack-deadline',
      '1s',
      '--lease-ttl',
      '2s',
    ]
    let coordinator = new CliProcess(coordinatorArgs)
    const first = await coordinator.event('coordinator-started')
    const address = (first.addresses as string[])[0]!
    const node = (role: string, token: string, extra: string[]) =>
      cleanup
        .tempDir(`lb-restart-${role}-`)
        .then(
          (dir) =>
            new CliProcess(
              [
                'agent',
                'start',
                '--data-dir',
                dir,
                '--coordinator',
                address,
                '--role',
                role,
                '--enrol-address',
                (first.enrolAddresses as string[])[0]!,
                '--heartbeat-interval',
                '200ms',
                ...extra,
              ],
              { LIFEBOAT_ENROL_TOKEN: token },
            ),
        )
    const connector = await node('connector', connectorToken, ['--block-listen', '/ip4/127.0.0.1/tcp/0'])
    const connectorId = (await connector.event('agent-started')).nodeId as string
    const agent = await node('appliance', applianceToken, ['--volume-map', volumeMap])
    const nodeId = (await agent.event('agent-started')).nodeId as string
    await coordinator.event('node-online', { nodeId })
    await coordinator.event('node-online', { nodeId: connectorId })
    // The first cycle seeds the volume before the kills begin.
    await coordinator.event('job-succeeded', {}, 30_000)

    const seen = new Map<string, Job>()
    /** Jobs queued, offered or running at some kill. */
    const everActive = new Set<string>()
    let pendingOffer: Job | undefined
    const ROUNDS = 3
    // New content: the next cycle sends the whole image again, so it runs long enough to be cut.
    await writeFile(imagePath, randomBytes(IMAGE_BYTES))
    let inFlight: string | undefined
    let atFirstKill: string | undefined
    for (let round = 0; round < ROUNDS; round++) {
      if (round === 0) {
        // The first kill lands while a cycle holds its lease: right after its acknowledgement.
        const seeded = coordinator.lines.find((l) => l.event === 'job-succeeded')?.jobId
        const ack = await coordinator.line(
          (l) => l.event === 'job-acknowledged' && l.jobId !== seeded,
          'a cycle acknowledged',
          25_000,
        )
        inFlight = ack.jobId as string
      } else {
        await sleep(200 + Math.floor(Math.random() * 1_500))
      }
      await coordinator.kill()
      const killedAt = Date.now()
      const audit = await auditJobIndexes(storePath(dataDir))
      const ids = new Set(audit.jobs.map((j) => j.id))
      expect(ids.size, 'job ids are unique').toBe(audit.jobs.length)
      for (const [id, before] of seen) {
        const after = audit.jobs.find((j) => j.id === id)
        expect(after, `job ${id} survived the SIGKILL`).toBeDefined()
        if (TERMINAL.has(before.state)) expect(after!.state).toBe(before.state)
        expect(after!.attempt).toBeGreaterThanOrEqual(before.attempt)
      }
      const active = audit.jobs.filter((j) => ACTIVE.has(j.state))
      if (pendingOffer !== undefined) {
        // An offer in flight at the previous SIGKILL did not outlive its deadline after restart.
        const now = audit.jobs.find((j) => j.id === pendingOffer!.id)!
        expect(now.state === 'offered' && now.ackDeadline === pendingOffer.ackDeadline).toBe(false)
      }
      const dues = audit.jobs.map(dueAt)
      expect(new Set(dues).size, 'one job per due time').toBe(dues.length)
      for (const job of audit.jobs) {
        expect(['queued', 'offered', 'running', 'succeeded', 'failed', 'cancelled']).toContain(job.state)
        expect(job.planId).toBe('p1')
        expect(dueAt(job) % 1).toBe(0)
        if (job.state === 'offered') {
          expect(job.offeredTo).toBe(nodeId)
          expect(job.lease).toBeUndefined()
        }
        if (job.state === 'running') expect(job.lease?.nodeId).toBe(nodeId)
        if (job.state === 'queued') {
          expect(job.offeredTo).toBeUndefined()
          expect(job.lease).toBeUndefined()
        }
        seen.set(job.id, job)
        if (ACTIVE.has(job.state)) everActive.add(job.id)
      }
      expect(audit.jobs.length).toBeGreaterThanOrEqual(1)
      pendingOffer = active.find((j) => j.state === 'offered')
      if (round === 0) atFirstKill = audit.jobs.find((j) => j.id === inFlight)?.state

      // Restart on the same directory and port: the agent finds it again by itself.
      const mark = coordinator.lines.length
      coordinator = new CliProcess(coordinatorArgs)
      await coordinator.event('coordinator-started')
      await coordinator.event('session-open', { nodeId }, 20_000)
      await coordinator.event('session-open', { nodeId: connectorId }, 20_000)
      // Give an offer in flight at the kill time to pass its 1 s acknowledgement deadline.
      if (pendingOffer !== undefined) await sleep(Math.max(0, pendingOffer.ackDeadline! + 1_500 - Date.now()))
      expect(mark).toBeGreaterThan(0)
      expect(killedAt).toBeGreaterThan(started)
    }

    // The schedule resumes: a job for a due time after every one seen so far, on the anchored grid.
    const lastDue = Math.max(...[...seen.values()].map(dueAt))
    const scheduled = await coordinator.line(
      (l) => l.event === 'job-scheduled' && typeof l.jobId === 'string' && !seen.has(l.jobId),
      'a job scheduled after the restarts',
      25_000,
    )
    // Leases in flight resume or expire: a VM has one active cycle at most, so once the new job
    // succeeded every earlier one has ended — and each seen queued, offered or running at a kill
    // must have ended succeeded.
    const unfinished = [...everActive]
    await coordinator.event('job-succeeded', { jobId: scheduled.jobId as string }, 40_000)
    await coordinator.kill()
    await agent.stop()
    await connector.stop()
    const audit = await auditJobIndexes(storePath(dataDir))
    const fresh = audit.jobs.find((j) => j.id === scheduled.jobId)!
    expect(fresh).toBeDefined()
    expect(dueAt(fresh)).toBeGreaterThan(lastDue)
    expect((dueAt(fresh) - lastDue) % EVERY_MS).toBe(0)
    for (const id of seen.keys()) expect(audit.jobs.some((j) => j.id === id)).toBe(true)
    for (const id of unfinished) expect(audit.jobs.find((j) => j.id === id)?.state).toBe('succeeded')
    // The cycle cut at the first kill held a lease then, and still ended succeeded.
    expect(unfinished, `job ${inFlight} was ${atFirstKill} at the first kill`).toContain(inFlight)
    const dues = audit.jobs.map(dueAt)
    expect(new Set(dues).size).toBe(dues.length)
  }, 120_000)
})

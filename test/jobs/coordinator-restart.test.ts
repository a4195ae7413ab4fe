// Issue "Coordinator core" §7 with real processes of the built CLI (dist/): a coordinator with a
// 10 s interval plan and one enrolled agent (which registers no executors, so it declines every
// offer). The coordinator is SIGKILLed at random moments; while it is down the store is audited
// (indexes agree with records, fencing counters cover every token, one active job per VM at most,
// each offered/running job tied to one node, no job lost since the previous audit), then the
// coordinator restarts on the same data directory and port, the agent reconnects by itself, and
// the scheduler resumes: a new job for a later due time is enqueued, never a second for one time.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
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
    await store.createProtectedVm(
      'acme',
      { id: 'vm1', name: 'vm1', siteId: 'dc1', volumes: [{ id: 'vol1', size: 1 << 20, blockSize: 65_536 }] },
      now,
    )
    await store.createPlan(
      'acme',
      {
        id: 'p1',
        name: 'p1',
        groups: [{ vmIds: ['vm1'] }],
        schedule: { kind: 'interval', everyMs: EVERY_MS },
        job: { type: 'maintenance', action: 'prune-recovery-points' },
        retention: { count: 3, preservedTags: [] },
        sourceSiteId: 'dc1',
        targetSiteId: 'dc2',
        enabled: true,
      },
      now - EVERY_MS + 1_000,
    )
    const { token } = await issueEnrolmentToken(
      store,
      { tenant: 'acme', site: 'dc1', role: 'appliance' },
      now,
    )
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
    const agent = new CliProcess(
      [
        'agent',
        'start',
        '--data-dir',
        await cleanup.tempDir('lb-restart-agent-'),
        '--coordinator',
        address,
        '--role',
        'appliance',
        '--enrol-address',
        (first.enrolAddresses as string[])[0]!,
        '--heartbeat-interval',
        '200ms',
      ],
      { LIFEBOAT_ENROL_TOKEN: token },
    )
    const nodeId = (await agent.event('agent-started')).nodeId as string
    await coordinator.event('node-online', { nodeId })
    await coordinator.event('job-scheduled')
    // The agent has no executor: each offer comes back declined (a hand-back naming the node).
    await coordinator.event('job-handback', { nodeId })

    const seen = new Map<string, Job>()
    let pendingOffer: Job | undefined
    const ROUNDS = 3
    for (let round = 0; round < ROUNDS; round++) {
      await sleep(200 + Math.floor(Math.random() * 1_500))
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
      }
      expect(audit.jobs.length).toBeGreaterThanOrEqual(1)
      pendingOffer = active.find((j) => j.state === 'offered')

      // Restart on the same directory and port: the agent finds it again by itself.
      const mark = coordinator.lines.length
      coordinator = new CliProcess(coordinatorArgs)
      await coordinator.event('coordinator-started')
      await coordinator.event('session-open', { nodeId }, 20_000)
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
    await coordinator.kill()
    await agent.stop()
    const audit = await auditJobIndexes(storePath(dataDir))
    const fresh = audit.jobs.find((j) => j.id === scheduled.jobId)!
    expect(fresh).toBeDefined()
    expect(dueAt(fresh)).toBeGreaterThan(lastDue)
    expect((dueAt(fresh) - lastDue) % EVERY_MS).toBe(0)
    for (const id of seen.keys()) expect(audit.jobs.some((j) => j.id === id)).toBe(true)
    const dues = audit.jobs.map(dueAt)
    expect(new Set(dues).size).toBe(dues.length)
  }, 60_000)
})

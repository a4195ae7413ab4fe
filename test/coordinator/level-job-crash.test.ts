// Crash safety of the job-state changes on classic-level: a child process walking jobs through
// enqueue → offer → acknowledge → renew → complete | fail | hand back → cancel is SIGKILLed at a
// random moment, again and again over one store. After each kill: every job is in exactly the state
// of its last change that returned, or of the change in flight; the job indexes agree with the job
// records key for key (level-job-audit.ts), and each fencing counter is the highest token issued.
// The child runs the compiled store in dist/ (`npx tsc -p .`, which `npm test` runs first).
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isActiveState, type JobState } from '../../coordinator/jobs/job.js'
import { LEASE_TTL_MS } from '../../coordinator/jobs/job-defaults.js'
import { createLevelStore } from '../../coordinator/store/level-store.js'
import { builtStoreUrl } from './built-store.js'
import { peerId, T0, tenantWithSite } from './conformance/fixture.js'
import { auditJobIndexes } from './level-job-audit.js'

/** Kill rounds over one store: bounded, so the test stays a few seconds long. */
const ROUNDS = 8
/** Jobs the child walks through per round, over VMS protected VMs. */
const JOBS_PER_ROUND = 6
const VMS = 3
/** The kill lands within this many milliseconds after the chosen change starts. */
const KILL_JITTER_MS = 3

type Ending = 'complete' | 'fail' | 'handback'
const ENDINGS: Ending[] = ['complete', 'fail', 'handback']
/** The state after each step (index = steps that returned; 0 = not enqueued yet). */
const STATES: Record<Ending, (JobState | 'absent')[]> = {
  complete: ['absent', 'queued', 'offered', 'running', 'running', 'succeeded'],
  fail: ['absent', 'queued', 'offered', 'running', 'running', 'failed'],
  handback: ['absent', 'queued', 'offered', 'running', 'running', 'queued', 'cancelled'],
}

const CHILD = fileURLToPath(new URL('./job-crash-child.mjs', import.meta.url))

interface ChildRun {
  /** Per job, the steps the child saw return. */
  steps: number[]
  signal: NodeJS.Signals | null
  stderr: string
}

function runAndKill(storeUrl: string, jobFile: string, totalSteps: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [CHILD, storeUrl, jobFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const run: ChildRun = { steps: Array(JOBS_PER_ROUND).fill(0), signal: null, stderr: '' }
    // The change to kill in: 0 = the first; totalSteps = after the last (nothing in flight).
    const victim = Math.floor(Math.random() * (totalSteps + 1))
    let seen = 0
    const kill = () => setTimeout(() => child.kill('SIGKILL'), Math.random() * KILL_JITTER_MS)
    let pending = ''
    child.stderr!.on('data', (chunk: Buffer) => {
      run.stderr += chunk.toString()
    })
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString()
      const lines = pending.split('\n')
      pending = lines.pop()!
      for (const line of lines) {
        if (line.startsWith('done ')) {
          const [, job, step] = line.split(' ').map(Number)
          run.steps[job] = step
          seen++
        }
        if ((line === 'open' && victim === 0) || (line.startsWith('done ') && seen === victim)) kill()
      }
    })
    child.on('error', reject)
    child.on('close', (_code, signal) => {
      run.signal = signal
      resolve(run)
    })
  })
}

describe('classic-level job changes under SIGKILL', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-job-crash-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('every job is in one consistent state, its indexes agree, whenever the process dies', async () => {
    const storeUrl = await builtStoreUrl()
    const location = join(dir, 'store')
    const appliances = [peerId(1), peerId(2)]
    const setup = createLevelStore({ location })
    await setup.open()
    await tenantWithSite(setup, 'acme', 'hq')
    for (const nodeId of appliances) {
      const { token } = await setup.createEnrolmentToken('acme', 'hq', 'appliance', LEASE_TTL_MS, T0)
      await setup.redeemEnrolmentToken(token, nodeId, 'appliance', T0)
    }
    for (let v = 0; v < VMS; v++) {
      const volumes = [0, 1].map((d) => ({ id: `vm-${v}-disk-${d}`, size: 1 << 20, blockSize: 65_536 }))
      await setup.createProtectedVm('acme', { id: `vm-${v}`, name: `VM ${v}`, siteId: 'hq', volumes }, T0)
    }
    await setup.close()

    let killedMidway = 0
    let earlierFences = new Map<string, number>()
    for (let round = 0; round < ROUNDS; round++) {
      const now = T0 + round * 1_000
      const jobs = Array.from({ length: JOBS_PER_ROUND }, (_, n) => ({
        tenantId: 'acme',
        id: `r${round}-j${n}`,
        vmId: `vm-${n % VMS}`,
        nodeId: appliances[n % 2],
        ending: ENDINGS[(n + round) % ENDINGS.length],
      }))
      const totalSteps = jobs.reduce((sum, job) => sum + STATES[job.ending].length - 1, 0)
      const jobFile = join(dir, `jobs-${round}.json`)
      await writeFile(jobFile, JSON.stringify({ location, now, jobs }))

      const run = await runAndKill(storeUrl, jobFile, totalSteps)
      expect(run.stderr).toBe('')
      expect(run.signal).toBe('SIGKILL')

      // Indexes and fencing counters agree with the records, read straight from the files.
      const audit = await auditJobIndexes(location)
      expect(audit.jobs.every((job) => job.tenantId === 'acme')).toBe(true)

      const after = createLevelStore({ location })
      await after.open()
      let inFlight = 0
      for (const [n, plan] of jobs.entries()) {
        const job = await after.getJob('acme', plan.id)
        const state = job?.state ?? 'absent'
        const states = STATES[plan.ending]
        const done = run.steps[n]
        // The state of the last change that returned, or of the one in flight when the kill came.
        const allowed = [states[done], states[done + 1]].filter((s) => s !== undefined)
        expect(allowed, `${plan.id} after ${done} steps is ${state}`).toContain(state)
        if (state !== states[done]) inFlight++
        if (job !== undefined && done >= 4 && state === 'running') {
          expect(job.lease!.expiresAt).toBe(now + n + 1 + LEASE_TTL_MS)
        }
        if (job !== undefined && done >= 2) {
          const token = job.fencingTokens[`${plan.vmId}-disk-0`]
          expect(token).toBeGreaterThan(0)
          expect(job.fencingTokens[`${plan.vmId}-disk-1`]).toBe(token)
        }
      }
      // Changes run one after another: at most one was caught half-way, and none after it ran.
      expect(inFlight).toBeLessThanOrEqual(1)
      const touched = run.steps.findIndex((steps, n) => steps < STATES[jobs[n].ending].length - 1)
      if (touched !== -1) {
        for (let n = touched + 1; n < JOBS_PER_ROUND; n++)
          expect(await after.getJob('acme', jobs[n].id)).toBeUndefined()
        if (run.steps[touched] > 0) killedMidway++
      }
      // Counters only grow: none is below what it was after the round before.
      for (const [key, token] of earlierFences)
        expect(audit.fences.get(key), key).toBeGreaterThanOrEqual(token)
      earlierFences = audit.fences

      // The store carries on: end whatever the kill left active, then audit again.
      for (const plan of jobs) {
        const job = await after.getJob('acme', plan.id)
        if (job !== undefined && isActiveState(job.state)) await after.cancelJob('acme', plan.id, now + 999)
      }
      expect(await after.activeJobsByNode(appliances[0])).toBe(0)
      expect(await after.activeJobsByNode(appliances[1])).toBe(0)
      await after.close()
      await auditJobIndexes(location)
    }
    // The kills did land inside job walks, not only before or after them (overwhelmingly likely).
    expect(killedMidway).toBeGreaterThan(0)
  })
})

// Crash safety of group commit on classic-level: a child process walks many jobs at once through
// enqueue → offer → acknowledge → renew → complete, so the changes of different jobs are written in
// shared batches, and is SIGKILLed at a random moment, again and again over one store. After each
// kill: every job is in the state of its last change that returned, or of the one in flight (never
// half of one, never a later one); the job indexes agree with the records key for key
// (level-job-audit.ts); the fencing counter of each job's volume is the token of its offer.
// The child runs the compiled store in dist/ (`npx tsc -p .`, which `npm test` runs first).
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { JobState } from '../../coordinator/jobs/job.js'
import { LEASE_TTL_MS } from '../../coordinator/jobs/job-defaults.js'
import { createLevelStore } from '../../coordinator/store/level-store.js'
import { builtStoreUrl } from './built-store.js'
import { peerId, T0, tenantWithSite } from './conformance/fixture.js'
import { auditJobIndexes } from './level-job-audit.js'

/** Kill rounds over one store: bounded, so the test stays a few seconds long. */
const ROUNDS = 6
/** Jobs walked at once per round, each on its own VM (a VM has one active cycle at a time). */
const JOBS_PER_ROUND = 12
/** The kill lands within this many milliseconds after the chosen change returns. */
const KILL_JITTER_MS = 3
/** The state after each step (index = steps that returned; 0 = not enqueued yet). */
const STATES: (JobState | 'absent')[] = ['absent', 'queued', 'offered', 'running', 'running', 'succeeded']
const TOTAL_STEPS = JOBS_PER_ROUND * (STATES.length - 1)

const CHILD = fileURLToPath(new URL('./group-commit-crash-child.mjs', import.meta.url))

interface ChildRun {
  /** Per job, the steps the child saw return. */
  steps: number[]
  signal: NodeJS.Signals | null
  stderr: string
}

function runAndKill(storeUrl: string, jobFile: string): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [CHILD, storeUrl, jobFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const run: ChildRun = { steps: Array(JOBS_PER_ROUND).fill(0), signal: null, stderr: '' }
    // Kill after this many changes returned: 0 = right after open; most kills land mid-walk.
    const victim = Math.floor(Math.random() * TOTAL_STEPS)
    let seen = 0
    let pending = ''
    const kill = () => setTimeout(() => child.kill('SIGKILL'), Math.random() * KILL_JITTER_MS)
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
        // Every change returned before the kill: kill anyway, the check still holds.
        if (line.startsWith('finished ')) kill()
      }
    })
    child.on('error', reject)
    child.on('close', (_code, signal) => {
      run.signal = signal
      resolve(run)
    })
  })
}

describe('classic-level group commit under SIGKILL', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-group-crash-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('every job is in one consistent state and its indexes agree, whenever the process dies', async () => {
    const storeUrl = await builtStoreUrl()
    const location = join(dir, 'store')
    const appliances = [peerId(1), peerId(2), peerId(3)]
    const setup = createLevelStore({ location })
    await setup.open()
    await tenantWithSite(setup, 'acme', 'hq')
    for (const nodeId of appliances) {
      const { token } = await setup.createEnrolmentToken('acme', 'hq', 'appliance', LEASE_TTL_MS, T0)
      await setup.redeemEnrolmentToken(token, nodeId, 'appliance', T0)
    }
    for (let v = 0; v < JOBS_PER_ROUND; v++) {
      const volumes = [{ id: `vm-${v}-disk`, size: 1 << 20, blockSize: 65_536 }]
      await setup.createProtectedVm('acme', { id: `vm-${v}`, name: `VM ${v}`, siteId: 'hq', volumes }, T0)
    }
    await setup.close()

    let killedMidway = 0
    for (let round = 0; round < ROUNDS; round++) {
      const now = T0 + round * 1_000
      const jobs = Array.from({ length: JOBS_PER_ROUND }, (_, n) => ({
        tenantId: 'acme',
        id: `r${round}-j${n}`,
        vmId: `vm-${n}`,
        nodeId: appliances[n % appliances.length],
      }))
      const jobFile = join(dir, `jobs-${round}.json`)
      await writeFile(jobFile, JSON.stringify({ location, now, jobs }))

      const run = await runAndKill(storeUrl, jobFile)
      expect(run.stderr).toBe('')
      expect(run.signal).toBe('SIGKILL')

      const audit = await auditJobIndexes(location)
      expect(audit.jobs.every((job) => job.tenantId === 'acme')).toBe(true)

      const after = createLevelStore({ location })
      await after.open()
      for (const [n, plan] of jobs.entries()) {
        const job = await after.getJob('acme', plan.id)
        const state = job?.state ?? 'absent'
        const done = run.steps[n]
        // The state of the last change that returned, or of the one in flight when the kill came.
        const allowed = [STATES[done], STATES[done + 1]].filter((s) => s !== undefined)
        expect(allowed, `${plan.id} after ${done} steps is ${state}`).toContain(state)
        if (job !== undefined && done >= 2) {
          // The counter is the token of this job's offer (the latest one for its volume).
          expect(audit.fences.get(`acme/${plan.vmId}-disk`)).toBe(job.fencingTokens[`${plan.vmId}-disk`])
        }
        if (job !== undefined && done >= 4 && state === 'running') {
          expect(job.lease!.expiresAt).toBe(now + n + 1 + LEASE_TTL_MS)
        }
      }
      if (run.steps.some((steps) => steps > 0 && steps < STATES.length - 1)) killedMidway++
      // The store carries on: end whatever the kill left active, then audit again.
      for (const plan of jobs) {
        const job = await after.getJob('acme', plan.id)
        if (job !== undefined && ['queued', 'offered', 'running'].includes(job.state))
          await after.cancelJob('acme', plan.id, now + 999)
      }
      for (const nodeId of appliances) expect(await after.activeJobsByNode(nodeId)).toBe(0)
      await after.close()
      await auditJobIndexes(location)
    }
    expect(killedMidway).toBeGreaterThan(0)
  })
})

// Crash safety of redeemEnrolmentToken on classic-level: a child process redeeming tokens is
// SIGKILLed at a random moment, again and again over one store. After each kill the store must hold,
// for every token, either both halves of its redemption (token used by the node AND the node enrolled)
// or neither; every redemption the child saw return must be there; and redemptions land in order.
// The child runs the compiled store in dist/ (`npx tsc -p .`, which `npm test` runs first).
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLevelStore } from '../../coordinator/store/level-store.js'
import { builtStoreUrl } from './built-store.js'
import { MINUTE, peerId, T0 } from './conformance/fixture.js'

/** Kill rounds over one store: bounded, so the test stays a few seconds long. */
const ROUNDS = 8
/** Tokens the child redeems per round. */
const TOKENS_PER_ROUND = 20
/**
 * Each round picks a redemption at random and kills the child within this many milliseconds of that
 * redemption starting (a redemption takes about as long), so kills land before, inside and after
 * the batch that commits it.
 */
const KILL_JITTER_MS = 3

const CHILD = fileURLToPath(new URL('./crash-child.mjs', import.meta.url))

interface ChildRun {
  /** Indexes of the redemptions the child saw return before it died. */
  done: number[]
  signal: NodeJS.Signals | null
  stderr: string
}

function runAndKill(storeUrl: string, jobFile: string): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [CHILD, storeUrl, jobFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const run: ChildRun = { done: [], signal: null, stderr: '' }
    const victim = Math.floor(Math.random() * (TOKENS_PER_ROUND + 1))
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
        if (line.startsWith('done ')) run.done.push(Number(line.slice(5)))
        // Redemption `victim` starts right after the line that reports the one before it.
        if ((line === 'open' && victim === 0) || line === `done ${victim - 1}`) kill()
      }
    })
    child.on('error', reject)
    child.on('close', (_code, signal) => {
      run.signal = signal
      resolve(run)
    })
  })
}

describe('classic-level store under SIGKILL', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-crash-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('a redemption is all there or not there at all, whenever the process dies', async () => {
    const storeUrl = await builtStoreUrl(['coordinator/store'])
    const location = join(dir, 'store')
    const setup = createLevelStore({ location })
    await setup.open()
    await setup.createTenant({ id: 'acme', name: 'Acme' }, T0)
    await setup.createSite('acme', { id: 'hq', name: 'HQ' }, T0)
    await setup.close()

    let enrolledSoFar = 0
    for (let round = 0; round < ROUNDS; round++) {
      // Setup writes need no fsync: the child's crash cannot lose what this process closed cleanly.
      const store = createLevelStore({ location, sync: false })
      await store.open()
      const tokens = []
      for (let n = 0; n < TOKENS_PER_ROUND; n++) {
        const { token, record } = await store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
        tokens.push({ secret: token, id: record.id, nodeId: peerId(round * 1000 + n) })
      }
      await store.close()
      const jobFile = join(dir, `job-${round}.json`)
      await writeFile(jobFile, JSON.stringify({ location, now: T0 + 1, tokens }))

      const run = await runAndKill(storeUrl, jobFile)
      expect(run.stderr).toBe('')
      expect(run.signal).toBe('SIGKILL')

      const after = createLevelStore({ location })
      await after.open()
      const used: boolean[] = []
      for (const { id, nodeId } of tokens) {
        const token = await after.getEnrolmentToken('acme', id)
        const node = await after.findNode(nodeId)
        const scoped = await after.getNode('acme', nodeId)
        expect(token).toBeDefined()
        expect(scoped).toEqual(node)
        if (token!.usedAt === undefined) {
          expect(node).toBeUndefined()
          expect(token!.usedByNode).toBeUndefined()
        } else {
          expect(token!.usedByNode).toBe(nodeId)
          expect(node).toMatchObject({ id: nodeId, tenantId: 'acme', siteId: 'hq', enrolledAt: T0 + 1 })
        }
        used.push(token!.usedAt !== undefined)
      }
      const count = used.filter(Boolean).length
      // Sequential redemptions land as a prefix; every one the child saw return is among them.
      expect(used).toEqual(tokens.map((_, n) => n < count))
      expect(count).toBeGreaterThanOrEqual(run.done.length)
      expect(count).toBeLessThanOrEqual(run.done.length + 1)
      // Nothing else was enrolled: the tenant holds exactly the nodes of the used tokens so far.
      enrolledSoFar += count
      expect(await after.listNodes('acme')).toHaveLength(enrolledSoFar)
      await after.close()
    }
  })
})

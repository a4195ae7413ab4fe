// Crash safety of the status queue: a child process appending updates to one queue is SIGKILLed at
// a random moment, round after round over the same data directory. After each kill, reopened: no
// record is half written (nothing is quarantined), the stored seqs run without a gap from just
// after the acknowledged seq to the highest stored one, every update whose append returned is still
// there unless acknowledged (RESULTs are fsynced; the rest survive a process crash), and the next
// round continues after the highest seq — never reusing one.
// The child runs the compiled queue in dist/ (`npx tsc -p .`, which `npm test` runs first).
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createStatusQueue } from '../../agent/status-queue/index.js'

/** Kill rounds over one queue: bounded, so the test stays a few seconds long. */
const ROUNDS = 6
/** The kill lands after the child reported between 1 and this many lines. */
const MAX_LINES_BEFORE_KILL = 300

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CHILD = fileURLToPath(new URL('./crash-child.mjs', import.meta.url))

async function builtQueueUrl(): Promise<string> {
  const folder = 'agent/status-queue'
  for (const file of await readdir(join(ROOT, folder))) {
    if (!file.endsWith('.ts')) continue
    const built = join(ROOT, 'dist', folder, file.replace(/\.ts$/, '.js'))
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(ROOT, folder, file)).mtimeMs) {
      throw new Error(`${built} is missing or older than its source: run \`npx tsc -p .\` before this test`)
    }
  }
  return pathToFileURL(join(ROOT, 'dist', folder, 'index.js')).href
}

interface ChildRun {
  openedAt: number
  appended: number[]
  synced: number
  acked: number
  signal: NodeJS.Signals | null
  stderr: string
}

function runAndKill(moduleUrl: string, dataDir: string): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [CHILD, moduleUrl, dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const run: ChildRun = { openedAt: -1, appended: [], synced: 0, acked: 0, signal: null, stderr: '' }
    const victim = 1 + Math.floor(Math.random() * MAX_LINES_BEFORE_KILL)
    let lines = 0
    let pending = ''
    child.stderr!.on('data', (chunk: Buffer) => {
      run.stderr += chunk.toString()
    })
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString()
      const parts = pending.split('\n')
      pending = parts.pop()!
      for (const line of parts) {
        const [word, value] = line.split(' ')
        const seq = Number(value)
        if (word === 'open') run.openedAt = seq
        if (word === 'appended' || word === 'synced') run.appended.push(seq)
        if (word === 'synced') run.synced = seq
        if (word === 'acked') run.acked = seq
        if (++lines === victim) child.kill('SIGKILL')
      }
    })
    child.on('error', reject)
    child.on('close', (_code, signal) => {
      run.signal = signal
      resolve(run)
    })
  })
}

let dataDir: string

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'lifeboat-status-crash-'))
})

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true })
})

describe('status queue crash safety', () => {
  it('after SIGKILL at a random moment: no half-written record, no gap, no lost update, no reused seq', async () => {
    const moduleUrl = await builtQueueUrl()
    let highestBefore = 0
    for (let round = 0; round < ROUNDS; round++) {
      const run = await runAndKill(moduleUrl, dataDir)
      expect(run.signal, run.stderr).toBe('SIGKILL')
      expect(run.openedAt).toBe(highestBefore)
      if (run.appended.length > 0) expect(run.appended[0]).toBe(highestBefore + 1)

      const quarantined: string[] = []
      const queue = createStatusQueue({ dataDir }, { onQuarantine: (e) => quarantined.push(e.message) })
      await queue.open()
      try {
        expect(quarantined).toEqual([])
        const stats = queue.stats()
        const seqs = (await queue.pending(10_000)).map((u) => u.seq)
        expect(stats.acknowledgedSeq).toBeGreaterThanOrEqual(run.acked)
        // Gap-free: from just after the acknowledged seq to the highest stored.
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => stats.acknowledgedSeq + 1 + i))
        // Every returned append is there (or acknowledged), the last fsynced RESULT above all.
        const highest = Math.max(stats.acknowledgedSeq, seqs.at(-1) ?? 0)
        expect(highest).toBeGreaterThanOrEqual(Math.max(run.synced, run.appended.at(-1) ?? 0, highestBefore))
        expect(stats.lastSeq).toBe(highest)
        highestBefore = highest
      } finally {
        await queue.close()
      }
    }
  })
})

// The whole path with real processes of the built CLI (dist/): coordinator start, token create
// through the admin socket, agent start (enrolment, session, heartbeats), a replayed token refused,
// clean stops on SIGTERM, and token create on the store once the coordinator is gone.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Cleanup, WAIT_LIMIT_MS, withLimit } from './helpers.js'

const CLI = join(import.meta.dirname, '../../dist/cli/main.js')
const cleanup = new Cleanup()
afterEach(() => cleanup.run())

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx tsc -p .\` before this test`)
})

/** A long-running CLI process whose stdout JSON lines are kept and can be waited for. */
class CliProcess {
  readonly child: ChildProcess
  readonly lines: Array<Record<string, unknown>> = []
  stderr = ''
  readonly #waiters = new Set<() => void>()

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    })
    cleanup.add(() => this.child.exitCode === null && this.child.kill('SIGKILL'))
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        this.lines.push({ text: line })
      }
      for (const wake of this.#waiters) wake()
    })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString()
    })
  }

  /** The first line (already seen or to come) that matches. */
  line(match: (line: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
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
    )
  }

  event(name: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.line((l) => l.event === name && Object.entries(extra).every(([k, v]) => l[k] === v), name)
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode
    const exited = once(this.child, 'exit')
    this.child.kill('SIGTERM')
    const [code] = (await withLimit(exited, 'exit after SIGTERM')) as [number | null]
    return code
  }

  async exited(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode
    const [code] = (await withLimit(once(this.child, 'exit'), 'exit')) as [number | null]
    return code
  }
}

/** Runs a short CLI command to its end. */
function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: WAIT_LIMIT_MS }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), stdout, stderr })
    })
  })
}

describe('lifeboat coordinator and agent processes', () => {
  it('enrol, connect, heartbeat, refuse a replayed token and stop cleanly', async () => {
    const coordinatorDir = await cleanup.tempDir('lb-cli-')
    const coordinator = new CliProcess([
      'coordinator',
      'start',
      '--data-dir',
      coordinatorDir,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--enrol-listen',
      '/ip4/127.0.0.1/tcp/0',
      '--heartbeat-interval',
      '200ms',
      '--missed-heartbeats',
      '1',
    ])
    const started = await coordinator.event('coordinator-started')
    const address = (started.addresses as string[])[0]!
    const enrolAddress = (started.enrolAddresses as string[])[0]!
    expect(address).toContain(`/p2p/${started.peerId}`)

    const created = await run([
      'coordinator',
      'token',
      'create',
      '--data-dir',
      coordinatorDir,
      '--tenant',
      'acme',
      '--site',
      'dc1',
      '--role',
      'appliance',
      '--ttl',
      '1h',
      '--json',
    ])
    expect(created.code).toBe(0)
    const token = JSON.parse(created.stdout) as Record<string, unknown>
    expect(token).toMatchObject({
      event: 'token',
      via: 'coordinator',
      createdTenant: true,
      createdSite: true,
    })

    const agentArgs = (dataDir: string) => [
      'agent',
      'start',
      '--data-dir',
      dataDir,
      '--coordinator',
      address,
      '--role',
      'appliance',
      '--enrol-address',
      enrolAddress,
      '--heartbeat-interval',
      '200ms',
    ]
    const agent = new CliProcess(agentArgs(await cleanup.tempDir('lb-cli-agent-')), {
      LIFEBOAT_ENROL_TOKEN: token.token as string,
    })
    const agentStarted = await agent.event('agent-started')
    const nodeId = agentStarted.nodeId as string
    expect(agentStarted).toMatchObject({ enrolledNow: true, tenantId: 'acme', siteId: 'dc1' })
    await agent.event('session-open')
    await coordinator.event('node-enrolled', { nodeId })
    await coordinator.event('node-online', { nodeId })

    // At once: the same token again, from another node — refused on both sides, exit non-zero —
    // and SIGTERM to the first agent, which stops cleanly; the coordinator notices its silence.
    const [replay, agentExit] = await Promise.all([
      run([...agentArgs(await cleanup.tempDir('lb-cli-agent-')), '--token', token.token as string]),
      agent.stop(),
    ])
    expect(replay.code).toBe(5) // ExitCode.REFUSED
    expect(replay.stderr).toMatch(/^error ENROL_TOKEN_USED: /m)
    await coordinator.event('enrolment-refused', { code: 'ENROL_TOKEN_USED' })
    expect(agentExit).toBe(0)
    expect(await coordinator.event('node-offline', { nodeId })).toMatchObject({
      lastSeenAt: expect.any(Number),
    })
    expect(await coordinator.stop()).toBe(0)
    expect(existsSync(join(coordinatorDir, 'admin.sock'))).toBe(false)

    // With the coordinator gone, tokens are issued on the store itself.
    const offline = await run([
      'coordinator',
      'token',
      'create',
      '--data-dir',
      coordinatorDir,
      '--tenant',
      'acme',
      '--site',
      'dc2',
      '--role',
      'connector',
    ])
    expect(offline.code).toBe(0)
    expect(offline.stdout.trim()).toMatch(/^lbt_[A-Za-z0-9_-]{43}$/)
    expect(offline.stderr).toContain('created site dc2 in tenant acme')
    expect(offline.stderr).not.toContain('created tenant')
  }, 30_000)

  it('refuses a bad command line with a usage error and exit code 2', async () => {
    const dir = await cleanup.tempDir('lb-cli-')
    const badRole = await run([
      'coordinator',
      'token',
      'create',
      '--data-dir',
      dir,
      '--tenant',
      'a',
      '--site',
      'b',
      '--role',
      'boss',
    ])
    expect(badRole.code).toBe(2)
    expect(badRole.stderr).toMatch(/^error CLI_USAGE_INVALID_ROLE: --role "boss"/m)
  })
})

/**
 * A Lifeboat node (appliance or connector) run by the replication benchmark as a child process of
 * the built CLI, `node dist/cli/main.js agent start …`, so that its memory and CPU are its own:
 *
 * - *peak RSS* is VmHWM of /proc/<pid>/status (the high-water mark of the child's own address
 *   space; getrusage's maxrss would include the parent's, see cli/peak-rss.ts), read while the
 *   child is alive;
 * - *CPU time* is utime + stime of /proc/<pid>/stat (every thread, scan workers included).
 *
 * The child's JSON log lines (pino, stdout) are kept, at most MAX_KEPT_LINES, to find its
 * `agent-started` line (its node id) and to quote the last lines when it fails. `stop()` sends
 * SIGTERM, then SIGKILL after NODE_STOP_TIMEOUT_MS; it is idempotent.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { nodeFailed } from './replication-bench-errors.js'

/**
 * The built CLI: next to this file's compiled copy in dist/, or in dist/ when this file runs from
 * source (vitest).
 */
export const CLI_PATH = ((): string => {
  const compiled = fileURLToPath(new URL('../../cli/main.js', import.meta.url))
  return existsSync(compiled) ? compiled : fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))
})()
/** How long a node may take to enrol, connect and log `agent-started`. */
export const NODE_START_TIMEOUT_MS = 30_000
/** How long `stop()` waits after SIGTERM before SIGKILL. */
export const NODE_STOP_TIMEOUT_MS = 5_000
const MAX_KEPT_LINES = 2_000
const MAX_STDERR_CHARS = 16 * 1024

export interface NodeProcessInit {
  role: 'appliance' | 'connector'
  dataDir: string
  /** The coordinator's control address, ending in /p2p/<peer id>. */
  coordinator: string
  enrolAddress: string
  token: string
  /** Appliance only. */
  volumeMap?: string
  /** Node's own options before the script, e.g. `--cpu-prof` to profile the node. */
  nodeArgs?: readonly string[]
}

export interface NodeProcess {
  readonly role: 'appliance' | 'connector'
  readonly pid: number
  /** The node's peer id, from its `agent-started` log line. */
  readonly nodeId: string
  /** VmHWM of the running child in bytes. */
  peakRssBytes(): number
  /** CPU seconds the child has used so far (user + system, all threads). */
  cpuSeconds(): number
  /** The last log lines and stderr, for error messages. */
  tail(): string
  stop(): Promise<void>
}

/** Starts the node and resolves once it has logged `agent-started`; kills it on any failure. */
export async function startNodeProcess(init: NodeProcessInit): Promise<NodeProcess> {
  const args = [
    ...(init.nodeArgs ?? []),
    CLI_PATH,
    'agent',
    'start',
    '--data-dir',
    init.dataDir,
    '--coordinator',
    init.coordinator,
    '--enrol-address',
    init.enrolAddress,
    '--role',
    init.role,
    '--heartbeat-interval',
    '1s',
    ...(init.role === 'connector' ? ['--block-listen', '/ip4/127.0.0.1/tcp/0'] : []),
    ...(init.volumeMap === undefined ? [] : ['--volume-map', init.volumeMap]),
  ]
  // The token goes in the environment, out of the process list (cli/agent-command.ts).
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LIFEBOAT_ENROL_TOKEN: init.token },
  })
  const lines: string[] = []
  let stderr = ''
  let nodeId: string | undefined
  let onStarted: (() => void) | undefined
  let buffered = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8')
    let newline = buffered.indexOf('\n')
    while (newline >= 0) {
      const line = buffered.slice(0, newline)
      buffered = buffered.slice(newline + 1)
      lines.push(line)
      if (lines.length > MAX_KEPT_LINES) lines.shift()
      if (nodeId === undefined && line.includes('"agent-started"')) {
        try {
          nodeId = String((JSON.parse(line) as { nodeId?: unknown }).nodeId)
          onStarted?.()
        } catch {
          // Not JSON after all: keep waiting.
        }
      }
      newline = buffered.indexOf('\n')
    }
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    if (stderr.length < MAX_STDERR_CHARS) stderr += chunk.toString('utf8')
  })
  const tail = (): string =>
    [...lines.slice(-5), stderr.trim().split('\n').slice(-5).join(' | ')].filter(Boolean).join(' | ')
  const stop = stopper(child)
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(nodeFailed(`the ${init.role} did not start within ${NODE_START_TIMEOUT_MS} ms: ${tail()}`)),
        NODE_START_TIMEOUT_MS,
      )
      onStarted = () => {
        clearTimeout(timer)
        resolve()
      }
      child.once('error', (error) => {
        clearTimeout(timer)
        reject(nodeFailed(`the ${init.role} could not be started: ${error.message}`))
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(nodeFailed(`the ${init.role} exited (${signal ?? `code ${code}`}) while starting: ${tail()}`))
      })
    })
  } catch (error) {
    await stop()
    throw error
  }
  const pid = child.pid!
  return {
    role: init.role,
    pid,
    nodeId: nodeId!,
    peakRssBytes: () => procStatusKiB(pid, 'VmHWM') * 1024,
    cpuSeconds: () => procCpuSeconds(pid),
    tail,
    stop,
  }
}

function stopper(child: ChildProcess): () => Promise<void> {
  let stopping: Promise<void> | undefined
  return () => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), NODE_STOP_TIMEOUT_MS)
      await exited
      clearTimeout(timer)
    })()
    return stopping
  }
}

/** A `Name:   N kB` field of /proc/<pid>/status. */
export function procStatusKiB(pid: number, field: string): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text)
  if (!match) throw nodeFailed(`/proc/${pid}/status has no ${field} line`)
  return Number(match[1])
}

let clockTicks: number | undefined

/** utime + stime of /proc/<pid>/stat in seconds. */
export function procCpuSeconds(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may hold spaces) start at field 3, `state`.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  clockTicks ??= readClockTicks()
  return ticks / clockTicks
}

function readClockTicks(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    return Number.isInteger(value) && value > 0 ? value : 100
  } catch {
    return 100
  }
}

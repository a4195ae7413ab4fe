/**
 * The benchmark's peer: an rsync daemon on 127.0.0.1 serving one writable *module* (a named folder,
 * `rsync://127.0.0.1:<port>/<module>/`). Its configuration, pid file and log live in a temporary
 * folder removed by `stop()`. It runs in the foreground (`--no-detach`) as a child of this process,
 * so stopping it is signalling that child; it is never left running after `stop()`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { findTool } from '../../demo/tool-lookup.js'
import { invalidBenchOption, rsyncFailed, rsyncMissing } from './bench-errors.js'

/** How long the daemon may take to accept connections. */
export const DAEMON_START_TIMEOUT_MS = 10_000
/** How long `stop()` waits after SIGTERM before SIGKILL. */
export const DAEMON_STOP_TIMEOUT_MS = 5_000
/** Free ports tried when another process takes the chosen one first. */
const START_ATTEMPTS = 3
const POLL_MS = 50

export interface RsyncDaemonInit {
  /** The folder the module serves; must exist. */
  dir: string
  /** Default: a free port chosen by the kernel. */
  port?: number
  /** Module name; default "target". */
  module?: string
  /** Path of the rsync executable; default: found on PATH, /sbin or /usr/sbin. */
  rsync?: string
}

export interface RsyncDaemon {
  /** `rsync://127.0.0.1:<port>/<module>/` */
  url: string
  port: number
  module: string
  /** The folder served. */
  dir: string
  /** The rsync executable, for transfers to this daemon. */
  rsync: string
  /** Stops the daemon and removes its temporary folder; idempotent. */
  stop(): Promise<void>
}

/** Starts the daemon and resolves once it accepts TCP connections. */
export async function startRsyncDaemon(init: RsyncDaemonInit): Promise<RsyncDaemon> {
  const module = init.module ?? 'target'
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(module)) {
    throw invalidBenchOption(
      'module',
      `${JSON.stringify(module)} is not a plain name (letters, digits, . _ -)`,
    )
  }
  if (init.port !== undefined && (!Number.isInteger(init.port) || init.port < 1 || init.port > 65535)) {
    throw invalidBenchOption('port', `is ${init.port}; expected an integer from 1 to 65535`)
  }
  if (/[\n\r]/.test(init.dir)) throw invalidBenchOption('dir', 'has a line break')
  const rsync =
    init.rsync === undefined ? findTool('rsync') : findTool(basename(init.rsync), [dirname(init.rsync)])
  if (rsync === undefined) throw rsyncMissing()
  const work = await mkdtemp(join(tmpdir(), 'lifeboat-rsyncd-'))
  try {
    for (let attempt = 1; ; attempt++) {
      const port = init.port ?? (await freePort())
      try {
        const child = await launch(rsync, work, init.dir, module, port)
        return daemonHandle(child, work, {
          url: `rsync://127.0.0.1:${port}/${module}/`,
          port,
          module,
          dir: init.dir,
          rsync,
        })
      } catch (error) {
        // Another process may have taken the free port between our probe and rsync's bind.
        if (init.port !== undefined || attempt >= START_ATTEMPTS) throw error
      }
    }
  } catch (error) {
    await rm(work, { recursive: true, force: true })
    throw error
  }
}

async function launch(
  rsync: string,
  work: string,
  dir: string,
  module: string,
  port: number,
): Promise<ChildProcess> {
  // Readiness is seen as the port accepting connections, which another server's port also does.
  if (await accepts(port)) throw rsyncFailed(`port ${port} of 127.0.0.1 is already in use`, true)
  const config = join(work, 'rsyncd.conf')
  const log = join(work, 'rsyncd.log')
  const uid = process.getuid?.() ?? 0
  const gid = process.getgid?.() ?? 0
  await writeFile(
    config,
    [
      `pid file = ${join(work, 'rsyncd.pid')}`,
      `log file = ${log}`,
      // Run as whoever started the benchmark, not as nobody (rsync's default when started by root).
      `uid = ${uid}`,
      `gid = ${gid}`,
      'use chroot = no',
      '',
      `[${module}]`,
      `path = ${dir}`,
      'use chroot = no',
      'read only = no',
      '',
    ].join('\n'),
  )
  const args = ['--daemon', '--no-detach', `--config=${config}`, '--address=127.0.0.1', `--port=${port}`]
  const child = spawn(rsync, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8')
  })
  const exited = new Promise<string>((resolve) => {
    child.on('error', (error) => resolve(`could not be started: ${error.message}`))
    child.on('exit', (code, signal) => resolve(`exited (${signal ?? `code ${code}`})`))
  })
  let ended: string | undefined
  void exited.then((how) => {
    ended = how
  })
  const deadline = Date.now() + DAEMON_START_TIMEOUT_MS
  while (ended === undefined && Date.now() < deadline) {
    if (await accepts(port)) {
      // A process that took the port after our check answers too; ours then exits on its bind error.
      await new Promise((resolve) => setTimeout(resolve, 2 * POLL_MS))
      if (ended === undefined) return child
      break
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
  child.kill('SIGKILL')
  const logText = await readFile(log, 'utf8').catch(() => '')
  const detail = `${stderr}${logText}`.trim().split('\n').slice(-5).join(' | ')
  throw rsyncFailed(
    `the rsync daemon on 127.0.0.1:${port} ${ended ?? `did not accept connections within ${DAEMON_START_TIMEOUT_MS} ms`}${detail ? `: ${detail}` : ''}`,
    true,
  )
}

function daemonHandle(child: ChildProcess, work: string, facts: Omit<RsyncDaemon, 'stop'>): RsyncDaemon {
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), DAEMON_STOP_TIMEOUT_MS)
        await exited
        clearTimeout(timer)
      }
      await rm(work, { recursive: true, force: true })
    })()
    return stopping
  }
  return { ...facts, stop }
}

/** A port nobody listens on now, from the kernel's ephemeral range. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

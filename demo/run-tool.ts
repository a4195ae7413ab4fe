/**
 * Running one external command to its end with a time limit, capturing what it printed. Output is
 * kept up to MAX_TOOL_OUTPUT_BYTES per stream (the rest is dropped) so a chatty tool cannot grow
 * memory without bound. The result says how the command ended; callers turn failures into their
 * own coded errors, since only they know whether a non-zero exit is a failure (e2fsck's is not).
 */
import { spawn } from 'node:child_process'

/** Bytes of stdout and of stderr kept from one run (docs/LIMITS.md "Demo images"). */
export const MAX_TOOL_OUTPUT_BYTES = 4 * 1024 * 1024

export interface ToolRunOptions {
  /** Killed with SIGKILL after this many milliseconds. */
  timeoutMs: number
  env?: NodeJS.ProcessEnv
}

export interface ToolRun {
  /** Exit code, or null when killed by a signal. */
  code: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
  stdout: string
  stderr: string
  /** Wall-clock milliseconds from spawn to exit. */
  ms: number
}

/** Resolves when the command has exited (whatever its code); rejects only when it cannot start. */
export function runTool(command: string, args: readonly string[], options: ToolRunOptions): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env })
    const stdout = boundedCollector()
    const stderr = boundedCollector()
    child.stdout.on('data', stdout.add)
    child.stderr.on('data', stderr.add)
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, options.timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({
        code,
        signal,
        timedOut,
        stdout: stdout.text(),
        stderr: stderr.text(),
        ms: performance.now() - started,
      })
    })
  })
}

function boundedCollector() {
  const parts: Buffer[] = []
  let kept = 0
  return {
    add: (chunk: Buffer) => {
      if (kept >= MAX_TOOL_OUTPUT_BYTES) return
      const part = chunk.subarray(0, MAX_TOOL_OUTPUT_BYTES - kept)
      parts.push(part)
      kept += part.length
    },
    text: () => Buffer.concat(parts).toString('utf8'),
  }
}

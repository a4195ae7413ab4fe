/**
 * The peer commands benchmarks run side by side with Lifeboat (b3sum, lz4, rsync): finding them,
 * installing the missing ones with apt-get when running as root (the machine has Debian's package
 * archive), and timing one run of any command by its wall clock.
 */
import { spawn, spawnSync } from 'node:child_process'

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0
}

/** Makes sure each command exists, installing its Debian package if needed; returns the missing ones. */
export function ensureCommands(packages: Record<string, string>, log: (line: string) => void): string[] {
  const missing = Object.keys(packages).filter((cmd) => !hasCommand(cmd))
  if (missing.length > 0 && process.getuid?.() === 0) {
    const names = [...new Set(missing.map((cmd) => packages[cmd]!))]
    log(`installing ${names.join(', ')} with apt-get…`)
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore' })
    spawnSync('apt-get', ['install', '-y', '-qq', ...names], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
  }
  return Object.keys(packages).filter((cmd) => !hasCommand(cmd))
}

export interface TimedRun {
  ms: number
  stdout: string
}

/** Runs a command to its end; rejects on a non-zero exit with its stderr. Output to a file via sh. */
export function timeCommand(
  command: string,
  args: string[],
  options: { shell?: boolean } = {},
): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = options.shell
      ? spawn('sh', ['-c', [command, ...args].join(' ')], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', reject)
    child.on('close', (code) => {
      const ms = performance.now() - started
      if (code === 0) resolve({ ms, stdout: Buffer.concat(out).toString() })
      else
        reject(
          new Error(`${command} ${args.join(' ')} exited ${code}: ${Buffer.concat(err).toString().trim()}`),
        )
    })
  })
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

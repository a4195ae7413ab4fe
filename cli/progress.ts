/**
 * Progress of long work as the operator sees it: a bar on a terminal (stderr, so stdout stays the
 * report), JSON lines on stdout with `--json` (at most one every PROGRESS_JSON_INTERVAL_MS), and
 * nothing when stderr is not a terminal and JSON was not asked for (logs and CI stay clean).
 */
import cliProgress from 'cli-progress'
import { formatBytes } from './sizes.js'

export const PROGRESS_JSON_INTERVAL_MS = 1_000

export interface Progress {
  update(done: number): void
  stop(): void
}

export interface ProgressInit {
  label: string
  total: number
  json: boolean
  /** Where JSON lines go; stdout by default. */
  write?: (line: string) => void
  /** Whether a bar may be drawn; process.stderr.isTTY by default. */
  tty?: boolean
}

export function createProgress(init: ProgressInit): Progress {
  const write = init.write ?? ((line: string) => process.stdout.write(`${line}\n`))
  if (init.json) {
    let last = 0
    return {
      update(done) {
        const now = Date.now()
        if (now - last < PROGRESS_JSON_INTERVAL_MS && done < init.total) return
        last = now
        write(JSON.stringify({ event: 'progress', step: init.label, done, total: init.total }))
      },
      stop() {},
    }
  }
  if (!(init.tty ?? process.stderr.isTTY === true)) return { update() {}, stop() {} }
  const bar = new cliProgress.SingleBar(
    {
      format: `${init.label} [{bar}] {percentage}% | {done} / {all} | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  )
  bar.start(init.total, 0, { done: formatBytes(0), all: formatBytes(init.total) })
  let stopped = false
  return {
    update(done) {
      if (!stopped) bar.update(done, { done: formatBytes(done) })
    },
    stop() {
      if (stopped) return
      stopped = true
      bar.stop()
    },
  }
}

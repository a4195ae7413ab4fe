/**
 * Peak resident memory of this process. On Linux `getrusage().ru_maxrss` (Node's
 * `process.resourceUsage().maxRSS`) keeps the high-water mark of the process *before* its execve:
 * a child spawned by a 500 MiB parent reports at least 500 MiB, whatever it used itself. VmHWM in
 * /proc/self/status belongs to the current address space only, so it is read first.
 */
import { readFileSync } from 'node:fs'

export function peakRssBytes(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    if (match) return Number(match[1]) * 1024
  } catch {
    // Not Linux, or /proc is not mounted: fall back to getrusage.
  }
  return process.resourceUsage().maxRSS * 1024
}

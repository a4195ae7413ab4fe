/**
 * Driving debugfs (e2fsprogs) from a command file: `debugfs [-w] -f <file> <image>`. debugfs exits
 * 0 even when a command fails, reporting the failure on stderr only, so any stderr line other than
 * its version banner is taken as a failure of the whole run. With `-f` it echoes each command on
 * stdout as `debugfs: <command>` before that command's output, which is how listings of several
 * folders in one run are told apart.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { imageIoError, invalidDemoOption, toolFailed, toolNotStarted } from './demo-errors.js'
import { runTool } from './run-tool.js'

/** The line debugfs always prints on stderr, e.g. `debugfs 1.47.0 (5-Feb-2023)`. */
const BANNER = /^debugfs \d+\.\d+/
const ECHO = 'debugfs: '
/** Deepest folder nesting listExt4Tree walks (docs/LIMITS.md "Demo images"). */
export const MAX_LIST_DEPTH = 16

export interface DebugfsRun {
  debugfs: string
  image: string
  /** Where the command file is written; the caller owns and removes it. */
  workDir: string
  writable: boolean
  timeoutMs: number
  env: NodeJS.ProcessEnv
  /** What the run does, for messages ("filling the image with 120 files"). */
  what: string
}

/** Runs `commands` in one debugfs process; resolves to its stdout. */
export async function runDebugfs(run: DebugfsRun, commands: readonly string[]): Promise<string> {
  for (const command of commands) {
    // debugfs splits arguments on white space and has no quoting we can rely on.
    if (/[\n"']/.test(command))
      throw invalidDemoOption('debugfs command', `${JSON.stringify(command)} has a quote or newline`)
  }
  const file = join(run.workDir, `debugfs-${process.pid}-${Date.now()}.cmd`)
  try {
    await writeFile(file, `${commands.join('\n')}\n`)
  } catch (cause) {
    throw imageIoError(`the debugfs command file ${file} could not be written`, cause)
  }
  const args = [...(run.writable ? ['-w'] : []), '-f', file, run.image]
  const result = await runTool(run.debugfs, args, { timeoutMs: run.timeoutMs, env: run.env }).catch(
    (cause) => {
      throw toolNotStarted('debugfs', cause)
    },
  )
  if (result.timedOut || result.code !== 0) throw toolFailed('debugfs', run.what, result)
  const complaints = result.stderr.split('\n').filter((line) => line.trim() !== '' && !BANNER.test(line))
  if (complaints.length > 0) {
    throw toolFailed('debugfs', run.what, { ...result, stderr: complaints.join('\n') }, 'reported errors')
  }
  return result.stdout
}

/** One entry of `ls -p`: `/inode/mode/uid/gid/name/size/`. */
export interface ListedEntry {
  name: string
  /** Octal mode as printed, e.g. `100644` (file) or `40755` (folder). */
  mode: string
  size: number
}

/** The entries of each listed folder, keyed by the folder as it was named in `ls -p <folder>`. */
export function parseListings(stdout: string): Map<string, ListedEntry[]> {
  const listings = new Map<string, ListedEntry[]>()
  let current: ListedEntry[] | undefined
  for (const line of stdout.split('\n')) {
    if (line.startsWith(ECHO)) {
      const command = line.slice(ECHO.length).trim().split(/\s+/)
      current = command[0] === 'ls' ? [] : undefined
      if (current) listings.set(command[command.length - 1]!, current)
      continue
    }
    const fields = line.split('/')
    if (current === undefined || fields.length !== 8) continue
    const [, , mode, , , name, size] = fields
    if (name === '.' || name === '..') continue
    current.push({ name: name!, mode: mode!, size: Number(size || 0) })
  }
  return listings
}

export function isFolderMode(mode: string): boolean {
  return mode.padStart(6, '0').startsWith('04')
}

export function isRegularFileMode(mode: string): boolean {
  return mode.padStart(6, '0').startsWith('10')
}

/** Every regular file under `/` (lost+found skipped) with its size, sorted by path. */
export async function listExt4Tree(run: DebugfsRun): Promise<{ path: string; size: number }[]> {
  const files: { path: string; size: number }[] = []
  let level = ['/']
  for (let depth = 0; level.length > 0 && depth < MAX_LIST_DEPTH; depth++) {
    const listings = parseListings(
      await runDebugfs(
        run,
        level.map((dir) => `ls -p ${dir}`),
      ),
    )
    const nextLevel: string[] = []
    for (const dir of level) {
      for (const entry of listings.get(dir) ?? []) {
        const path = dir === '/' ? `/${entry.name}` : `${dir}/${entry.name}`
        if (isFolderMode(entry.mode) && path !== '/lost+found') nextLevel.push(path)
        else if (isRegularFileMode(entry.mode)) files.push({ path, size: entry.size })
      }
    }
    level = nextLevel
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

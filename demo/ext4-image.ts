/**
 * The demo's real disk image: an ext4 filesystem made with mkfs.ext4 on a regular file (no root
 * needed) and filled with files by debugfs, changed between replication cycles, and checked with
 * e2fsck. Everything is deterministic: the same seed gives a byte-identical image, because the
 * filesystem UUID and directory hash seed are derived from the seed and e2fsprogs reads the clock
 * from E2FSPROGS_FAKE_TIME.
 *
 * Host files (the content debugfs copies in) are written to a fresh temporary folder that is
 * removed whatever happens; a new image is built under a temporary name next to its target and
 * renamed into place only when complete, so a failure leaves nothing behind.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { createPrng } from '../bench/mixed-content.js'
import { type DebugfsRun, listExt4Tree, runDebugfs } from './debugfs.js'
import { imageIoError, invalidDemoOption, toolFailed, toolMissing, toolNotStarted } from './demo-errors.js'
import {
  createContentPool,
  DEMO_DIRS,
  type DemoFile,
  type DemoFileKind,
  demoFileContent,
  demoText,
  hashString,
  planDemoFiles,
  sizeBetween,
} from './demo-files.js'
import { runTool } from './run-tool.js'
import { findTool } from './tool-lookup.js'

const MiB = 1024 * 1024
/** Size of a demo image unless told otherwise. */
export const DEFAULT_DEMO_IMAGE_BYTES = 64 * MiB
/** Smallest and largest demo image; a multiple of 64 KiB (docs/LIMITS.md "Demo images"). */
export const MIN_DEMO_IMAGE_BYTES = 16 * MiB
export const MAX_DEMO_IMAGE_BYTES = 4096 * MiB
/** Share of the image's size filled with files. */
export const DEMO_FILE_SHARE = 0.4
/** Time limit of one mkfs.ext4, debugfs or e2fsck run. */
export const DEMO_TOOL_TIMEOUT_MS = 120_000
/** The clock e2fsprogs sees (2023-11-14); each change round is one day later. */
export const DEMO_FS_TIME = 1_700_000_000
const ROUND_SECONDS = 86_400
const ALIGN = 64 * 1024

export interface E2fsTools {
  mkfs: string
  debugfs: string
  e2fsck: string
}

/** The e2fsprogs tools found on PATH, /sbin or /usr/sbin (or in `dirs`), or the names missing. */
export function findE2fsTools(dirs?: readonly string[]): { tools?: E2fsTools; missing: string[] } {
  const mkfs = findTool('mkfs.ext4', dirs)
  const debugfs = findTool('debugfs', dirs)
  const e2fsck = findTool('e2fsck', dirs)
  const missing = [!mkfs && 'mkfs.ext4', !debugfs && 'debugfs', !e2fsck && 'e2fsck'].filter(
    (name): name is string => typeof name === 'string',
  )
  return mkfs && debugfs && e2fsck ? { tools: { mkfs, debugfs, e2fsck }, missing } : { missing }
}

export interface Ext4ToolOptions {
  /** Default: findE2fsTools(). */
  tools?: E2fsTools
  /** Per tool run; default DEMO_TOOL_TIMEOUT_MS. */
  timeoutMs?: number
  /** Where the temporary folder of host files is made; default os.tmpdir(). */
  tempRoot?: string
}

export interface CreateExt4Options extends Ext4ToolOptions {
  /** Default DEFAULT_DEMO_IMAGE_BYTES; a multiple of 64 KiB in [MIN, MAX]_DEMO_IMAGE_BYTES. */
  sizeBytes?: number
  /** Default 1; an integer in [0, 2^32). */
  seed?: number
}

export interface Ext4Image {
  path: string
  sizeBytes: number
  files: DemoFile[]
  /** Sum of the files' sizes. */
  fileBytes: number
}

/** Makes an ext4 image of `sizeBytes` at `path` (replacing any file there) and fills it with files. */
export async function createExt4Image(path: string, options: CreateExt4Options = {}): Promise<Ext4Image> {
  const sizeBytes = options.sizeBytes ?? DEFAULT_DEMO_IMAGE_BYTES
  if (
    !Number.isSafeInteger(sizeBytes) ||
    sizeBytes < MIN_DEMO_IMAGE_BYTES ||
    sizeBytes > MAX_DEMO_IMAGE_BYTES ||
    sizeBytes % ALIGN !== 0
  ) {
    throw invalidDemoOption(
      'sizeBytes',
      `is ${sizeBytes}; expected a multiple of 65536 from ${MIN_DEMO_IMAGE_BYTES} to ${MAX_DEMO_IMAGE_BYTES}`,
    )
  }
  const seed = checkSeed(options.seed ?? 1)
  const tools = toolsOf(options)
  const files = planDemoFiles(Math.floor(sizeBytes * DEMO_FILE_SHARE), seed)
  const building = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(8).toString('hex')}`)
  const env = { ...process.env, E2FSPROGS_FAKE_TIME: String(DEMO_FS_TIME) }
  await withWorkDir(options, async (workDir) => {
    try {
      await allocate(building, sizeBytes)
      await mkfs(tools, building, seed, options.timeoutMs ?? DEMO_TOOL_TIMEOUT_MS, env)
      const content = createContentPool(seed)
      const commands = DEMO_DIRS.map((dir) => `mkdir ${dir}`)
      for (const [k, file] of files.entries()) {
        const host = join(workDir, `f${k}`)
        await writeHostFile(host, demoFileContent(file, content, 0))
        commands.push(`write ${host} ${file.path}`)
      }
      const run = debugfsRun(
        tools,
        building,
        workDir,
        options,
        env,
        `filling the image with ${files.length} files`,
      )
      await runDebugfs({ ...run, writable: true }, commands)
      await rename(building, path).catch((cause) => {
        throw imageIoError(`the new image could not be renamed to ${path}`, cause)
      })
    } catch (error) {
      await rm(building, { force: true })
      throw error
    }
  })
  return { path, sizeBytes, files, fileBytes: files.reduce((sum, f) => sum + f.size, 0) }
}

export interface ChangeExt4Options extends Ext4ToolOptions {
  /** The change round, 1 for the changes before the first incremental cycle; an integer ≥ 1. */
  round: number
  /** Default 1; the seed the image was made with. */
  seed?: number
}

export interface Ext4Changes {
  round: number
  /** Files rewritten with part of them edited (text overwritten; logs also grow); new sizes. */
  modified: DemoFile[]
  added: DemoFile[]
  deleted: string[]
}

/** Files edited, added and deleted in one round; the counts are small so few blocks change. */
export const CHANGES_PER_ROUND = { modified: 3, added: 2, deleted: 1 } as const

/**
 * Changes a few files of the ext4 image at `path` in place: CHANGES_PER_ROUND files edited, added
 * and deleted, chosen from `seed` and `round` (the same arguments on the same image give the same
 * bytes). An edit is made on a copy dumped from the image, then written back over the file.
 */
export async function changeExt4Files(path: string, options: ChangeExt4Options): Promise<Ext4Changes> {
  const { round } = options
  if (!Number.isSafeInteger(round) || round < 1 || round > 1_000_000) {
    throw invalidDemoOption('round', `is ${round}; expected an integer from 1 to 1000000`)
  }
  const seed = checkSeed(options.seed ?? 1)
  const tools = toolsOf(options)
  const env = { ...process.env, E2FSPROGS_FAKE_TIME: String(DEMO_FS_TIME + round * ROUND_SECONDS) }
  return withWorkDir(options, async (workDir) => {
    const run = debugfsRun(tools, path, workDir, options, env, `changing files (round ${round})`)
    const existing = await listExt4Tree(run)
    const next = createPrng(hashString(`change:${seed}:${round}`))
    const content = createContentPool(seed + round)
    const editable = existing.filter((f) => f.size <= 2 * MiB)
    const toModify = pick(editable, CHANGES_PER_ROUND.modified, next)
    const rest = existing.filter((f) => !toModify.includes(f))
    const toDelete = pick(rest, Math.min(CHANGES_PER_ROUND.deleted, Math.max(0, rest.length - 1)), next)

    const hosts = toModify.map((_, k) => join(workDir, `m${k}`))
    await runDebugfs(
      run,
      toModify.map((f, k) => `dump ${f.path} ${hosts[k]}`),
    )
    const commands: string[] = []
    const modified: DemoFile[] = []
    for (const [k, file] of toModify.entries()) {
      const edited = editFile(
        await readHostFile(hosts[k]!),
        file.path,
        content,
        next,
        `${seed}:${round}:${k}`,
      )
      await writeHostFile(hosts[k]!, edited)
      commands.push(`rm ${file.path}`, `write ${hosts[k]} ${file.path}`)
      modified.push({ path: file.path, size: edited.length, kind: kindOf(file.path) })
    }
    const added: DemoFile[] = []
    for (let k = 0; k < CHANGES_PER_ROUND.added; k++) {
      const file: DemoFile = {
        path: `/home/user/docs/round${round}-${k}.txt`,
        size: sizeBetween(next, 16 * 1024, 256 * 1024),
        kind: 'text',
      }
      const host = join(workDir, `a${k}`)
      await writeHostFile(host, demoFileContent(file, content, round))
      if (existing.some((f) => f.path === file.path)) commands.push(`rm ${file.path}`)
      commands.push(`write ${host} ${file.path}`)
      added.push(file)
    }
    commands.push(...toDelete.map((f) => `rm ${f.path}`))
    await runDebugfs({ ...run, writable: true }, commands)
    return { round, modified, added, deleted: toDelete.map((f) => f.path) }
  })
}

export interface Ext4Check {
  /** e2fsck exited 0: no problem found. */
  clean: boolean
  exitCode: number
  /** What e2fsck printed (stdout, then stderr). */
  output: string
}

/**
 * Runs `e2fsck -fn` (forced full check, changing nothing). Exit code 0 is clean. Codes 1–7, and 12
 * (operational error with errors left: the damage stopped the check), mean a damaged filesystem
 * (clean: false). 8 alone (the image could not be opened) and 16 and above (usage, cancelled, library
 * error) mean the check could not run, raised as DEMO_IMAGE_TOOL_FAILED.
 */
export async function checkExt4Image(
  path: string,
  options: Omit<Ext4ToolOptions, 'tempRoot'> = {},
): Promise<Ext4Check> {
  const given = options.tools?.e2fsck
  const e2fsck = given === undefined ? findTool('e2fsck') : findTool(basename(given), [dirname(given)])
  if (e2fsck === undefined) throw toolMissing(given === undefined ? 'e2fsck' : `e2fsck (${given})`)
  const result = await runTool(e2fsck, ['-fn', path], {
    timeoutMs: options.timeoutMs ?? DEMO_TOOL_TIMEOUT_MS,
  }).catch((cause) => {
    throw toolNotStarted('e2fsck', cause)
  })
  const damaged = result.code !== null && (result.code < 8 || result.code === 12)
  if (result.timedOut || result.code === null || (result.code !== 0 && !damaged))
    throw toolFailed('e2fsck', `checking ${path}`, result)
  return { clean: result.code === 0, exitCode: result.code, output: `${result.stdout}${result.stderr}` }
}

function checkSeed(seed: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw invalidDemoOption('seed', `is ${seed}; expected an integer from 0 to 4294967295`)
  }
  return seed
}

function toolsOf(options: Ext4ToolOptions): E2fsTools {
  if (options.tools) {
    for (const [name, path] of [
      ['mkfs.ext4', options.tools.mkfs],
      ['debugfs', options.tools.debugfs],
      ['e2fsck', options.tools.e2fsck],
    ]) {
      if (findTool(basename(path!), [dirname(path!)]) === undefined) throw toolMissing(`${name} (${path})`)
    }
    return options.tools
  }
  const found = findE2fsTools()
  if (!found.tools) throw toolMissing(found.missing.join(', '))
  return found.tools
}

/** A UUID made from the seed, so mkfs.ext4 writes the same bytes for the same seed. */
function seededUuid(seed: number, purpose: string): string {
  const next = createPrng(hashString(`${purpose}:${seed}`))
  const hex = Array.from({ length: 4 }, () => next().toString(16).padStart(8, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

async function mkfs(
  tools: E2fsTools,
  image: string,
  seed: number,
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
) {
  const args = [
    '-F',
    '-q',
    '-b',
    '4096',
    '-L',
    'lifeboat-demo',
    '-U',
    seededUuid(seed, 'uuid'),
    '-E',
    `hash_seed=${seededUuid(seed, 'hash')}`,
    image,
  ]
  const result = await runTool(tools.mkfs, args, { timeoutMs, env }).catch((cause) => {
    throw toolNotStarted('mkfs.ext4', cause)
  })
  if (result.timedOut || result.code !== 0)
    throw toolFailed('mkfs.ext4', `making a filesystem on ${image}`, result)
}

function debugfsRun(
  tools: E2fsTools,
  image: string,
  workDir: string,
  options: Ext4ToolOptions,
  env: NodeJS.ProcessEnv,
  what: string,
): DebugfsRun {
  return {
    debugfs: tools.debugfs,
    image,
    workDir,
    writable: false,
    timeoutMs: options.timeoutMs ?? DEMO_TOOL_TIMEOUT_MS,
    env,
    what,
  }
}

/** Runs `task` with a fresh temporary folder that is removed afterwards, whatever happens. */
async function withWorkDir<T>(options: Ext4ToolOptions, task: (dir: string) => Promise<T>): Promise<T> {
  const root = options.tempRoot ?? tmpdir()
  // debugfs commands cannot quote a path.
  if (/[\s"']/.test(root))
    throw invalidDemoOption('tempRoot', `${JSON.stringify(root)} has white space or a quote`)
  let dir: string
  try {
    dir = await mkdtemp(join(root, 'lifeboat-demo-'))
  } catch (cause) {
    throw imageIoError(`a temporary folder could not be made in ${root}`, cause)
  }
  try {
    return await task(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function allocate(path: string, sizeBytes: number): Promise<void> {
  try {
    const handle = await open(path, 'wx', 0o644)
    try {
      await handle.truncate(sizeBytes)
    } finally {
      await handle.close()
    }
  } catch (cause) {
    throw imageIoError(`the image file ${path} could not be created`, cause)
  }
}

async function writeHostFile(path: string, data: Uint8Array): Promise<void> {
  await writeFile(path, data).catch((cause) => {
    throw imageIoError(`the temporary file ${path} could not be written`, cause)
  })
}

async function readHostFile(path: string): Promise<Uint8Array> {
  return readFile(path).catch((cause) => {
    throw imageIoError(`the file dumped to ${path} could not be read`, cause)
  })
}

/** Text replaces 4–32 KiB somewhere in the file; a log also grows by 16–128 KiB. */
function editFile(
  old: Uint8Array,
  path: string,
  content: ReturnType<typeof createContentPool>,
  next: () => number,
  salt: string,
): Uint8Array {
  const grow = path.endsWith('.log') ? sizeBetween(next, 16 * 1024, 128 * 1024) : 0
  const out = new Uint8Array(old.length + grow)
  out.set(old)
  const patch = demoText(Math.min(out.length, sizeBetween(next, 4096, 32 * 1024)), content, `edit:${salt}`)
  const at = next() % (out.length - patch.length + 1)
  out.set(patch, at)
  if (grow > 0) out.set(demoText(grow, content, `append:${salt}`), old.length)
  return out
}

function kindOf(path: string): DemoFileKind {
  if (/\.(log|conf|txt)$/.test(path)) return 'text'
  if (path.endsWith('.jpg')) return 'random'
  if (path.endsWith('.db')) return 'sparse'
  return 'binary'
}

/** `count` distinct items of `list` chosen by `next` (fewer when the list is shorter). */
function pick<T>(list: readonly T[], count: number, next: () => number): T[] {
  const pool = [...list]
  const chosen: T[] = []
  while (chosen.length < count && pool.length > 0) chosen.push(pool.splice(next() % pool.length, 1)[0]!)
  return chosen
}

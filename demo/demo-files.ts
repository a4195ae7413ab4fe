/**
 * The files the demo puts on its ext4 image: a *plan* (which files, where, how large, of which
 * kind), chosen from a seed, and each file's *content*, generated from the same seed.
 *
 * A file's *kind* says what its bytes look like: `text` (logs, configs, documents: compresses well),
 * `binary` (executables and libraries: compresses somewhat), `random` (photos, archives: does not
 * compress), `sparse` (a database file: binary pieces with zero-filled pieces between them, which
 * debugfs stores as holes). Content is composed of 64 KiB pool blocks from bench/mixed-content.ts,
 * each stamped with the file's path, piece number and a *salt* so that no two pieces are equal; a
 * new salt gives new content for the same file (what a change round writes).
 */
import { type BlockKind, createMixedPool, createPrng, type MixedPool } from '../bench/mixed-content.js'

export type DemoFileKind = 'text' | 'binary' | 'random' | 'sparse'

export interface DemoFile {
  /** Absolute path inside the image, e.g. `/var/log/kernel-3.log`. */
  path: string
  size: number
  kind: DemoFileKind
}

/** Folders made on every demo image, parents first. */
export const DEMO_DIRS = [
  '/etc',
  '/var',
  '/var/log',
  '/usr',
  '/usr/bin',
  '/usr/lib',
  '/home',
  '/home/user',
  '/home/user/docs',
  '/home/user/media',
  '/srv',
  '/srv/data',
] as const

/** Most files in one plan (docs/LIMITS.md "Demo images"). */
export const MAX_DEMO_FILES = 4000

interface FileClass {
  dir: string
  kind: DemoFileKind
  ext: string
  minSize: number
  maxSize: number
  /** Relative chance of a new file being of this class. */
  weight: number
}

const KiB = 1024
const MiB = 1024 * KiB
const CLASSES: FileClass[] = [
  { dir: '/etc', kind: 'text', ext: '.conf', minSize: 512, maxSize: 16 * KiB, weight: 20 },
  { dir: '/var/log', kind: 'text', ext: '.log', minSize: 16 * KiB, maxSize: 1 * MiB, weight: 12 },
  { dir: '/usr/bin', kind: 'binary', ext: '', minSize: 16 * KiB, maxSize: 1 * MiB, weight: 14 },
  { dir: '/usr/lib', kind: 'binary', ext: '.so', minSize: 64 * KiB, maxSize: 4 * MiB, weight: 8 },
  { dir: '/home/user/docs', kind: 'text', ext: '.txt', minSize: 4 * KiB, maxSize: 256 * KiB, weight: 20 },
  { dir: '/home/user/media', kind: 'random', ext: '.jpg', minSize: 256 * KiB, maxSize: 4 * MiB, weight: 4 },
  { dir: '/srv/data', kind: 'sparse', ext: '.db', minSize: 1 * MiB, maxSize: 8 * MiB, weight: 2 },
]
const NAMES = (
  'kernel network storage backup restore replica journal audit cron mail proxy cache session ' +
  'metrics queue report invoice photo archive module driver codec parser shell editor compiler'
).split(' ')
const PIECE = 64 * KiB

/** FNV-1a of a string: turns a path into a seed. */
export function hashString(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** A size between min and max, spread evenly on a log scale (many small files, a few large ones). */
export function sizeBetween(next: () => number, min: number, max: number): number {
  const u = next() / 0x1_0000_0000
  return Math.floor(min * (max / min) ** u)
}

/**
 * Files of about `budgetBytes` in total (the last one may overshoot), the same for the same seed.
 * The first files are one of each class, so every kind is present whatever the budget.
 */
export function planDemoFiles(budgetBytes: number, seed: number): DemoFile[] {
  const next = createPrng(hashString(`plan:${seed}`))
  const totalWeight = CLASSES.reduce((sum, c) => sum + c.weight, 0)
  const files: DemoFile[] = []
  let planned = 0
  while (planned < budgetBytes && files.length < MAX_DEMO_FILES) {
    const cls = CLASSES[files.length] ?? classByWeight(next() % totalWeight)
    const name = `${NAMES[next() % NAMES.length]}-${files.length}${cls.ext}`
    const size = sizeBetween(next, cls.minSize, cls.maxSize)
    files.push({ path: `${cls.dir}/${name}`, size, kind: cls.kind })
    planned += size
  }
  return files
}

/** The class whose share of the total weight holds `roll`. */
function classByWeight(roll: number): FileClass {
  let rest = roll
  for (const cls of CLASSES) {
    if (rest < cls.weight) return cls
    rest -= cls.weight
  }
  return CLASSES[CLASSES.length - 1]!
}

/** The 64 KiB blocks of a mixed pool, grouped by kind; made once per seed and reused. */
export interface ContentPool {
  pool: MixedPool
  byKind: Record<BlockKind, number[]>
}

export function createContentPool(seed: number): ContentPool {
  const pool = createMixedPool(hashString(`pool:${seed}`))
  const byKind: Record<BlockKind, number[]> = { text: [], binary: [], random: [], zero: [] }
  for (const [index, kind] of pool.kinds.entries()) byKind[kind].push(index)
  return { pool, byKind }
}

/** The bytes of `file` for `salt` (0 for the first version of the file). */
export function demoFileContent(file: DemoFile, content: ContentPool, salt: number): Uint8Array {
  const out = new Uint8Array(file.size)
  const next = createPrng(hashString(`${file.path}:${salt}`))
  for (let piece = 0; piece * PIECE < file.size; piece++) {
    const target = out.subarray(piece * PIECE, Math.min(file.size, (piece + 1) * PIECE))
    const kind: BlockKind = file.kind === 'sparse' ? (next() % 2 === 0 ? 'zero' : 'binary') : file.kind
    if (kind === 'zero') continue
    fillFromPool(target, content, kind, next)
    stamp(target, `[${file.path}#${piece}@${salt}]\n`)
  }
  return out
}

/** Text to put into a file when a change round edits or appends to it. */
export function demoText(bytes: number, content: ContentPool, salt: string): Uint8Array {
  const out = new Uint8Array(bytes)
  const next = createPrng(hashString(salt))
  for (let at = 0; at < bytes; at += PIECE) {
    const target = out.subarray(at, Math.min(bytes, at + PIECE))
    fillFromPool(target, content, 'text', next)
    stamp(target, `[${salt}#${at / PIECE}]\n`)
  }
  return out
}

/** Copies a pool block of `kind` into `target`, starting at a random offset and wrapping around. */
function fillFromPool(target: Uint8Array, content: ContentPool, kind: BlockKind, next: () => number) {
  const choices = content.byKind[kind]
  const block = content.pool.blocks[choices[next() % choices.length]!]!
  const offset = next() % block.length
  const first = Math.min(target.length, block.length - offset)
  target.set(block.subarray(offset, offset + first))
  if (first < target.length) target.set(block.subarray(0, target.length - first), first)
}

function stamp(target: Uint8Array, text: string): void {
  for (let i = 0; i < text.length && i < target.length; i++) target[i] = text.charCodeAt(i) & 0x7f
}

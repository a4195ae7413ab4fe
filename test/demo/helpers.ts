/**
 * Shared test helpers for the demo images and the replication benchmark harness: fresh temporary
 * folders, hashes of each 64 KiB block of a file, and fake tools (shell scripts) that fail.
 */
import { createHash } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const BLOCK = 64 * 1024
export const MiB = 1024 * 1024

export async function tempDir(
  prefix = 'lifeboat-demo-test-',
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** SHA-256 of each 64 KiB block of the file, in block order. */
export async function blockHashes(path: string): Promise<string[]> {
  const data = await readFile(path)
  const hashes: string[] = []
  for (let at = 0; at < data.length; at += BLOCK) {
    hashes.push(
      createHash('sha256')
        .update(data.subarray(at, at + BLOCK))
        .digest('hex'),
    )
  }
  return hashes
}

export async function fileHash(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex')
}

/** Numbers of the blocks whose hashes differ (both lists of the same length). */
export function changedBlocks(before: string[], after: string[]): number[] {
  expectSameLength(before, after)
  return before.flatMap((hash, n) => (hash === after[n] ? [] : [n]))
}

function expectSameLength(a: string[], b: string[]): void {
  if (a.length !== b.length) throw new Error(`block counts differ: ${a.length} and ${b.length}`)
}

/** An executable shell script at `dir/name` running `body`. */
export async function fakeTool(dir: string, name: string, body: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, `#!/bin/sh\n${body}\n`)
  await chmod(path, 0o755)
  return path
}

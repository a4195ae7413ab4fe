/**
 * Finding an external command by name. System tools such as mkfs.ext4 live in /sbin or /usr/sbin,
 * which an unprivileged user's PATH often lacks, so those folders are searched after PATH.
 */
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'

/** Folders searched after PATH. */
export const SYSTEM_TOOL_DIRS = ['/sbin', '/usr/sbin'] as const

/**
 * The absolute path of the executable `name`, or undefined. `dirs` replaces the folders searched
 * (default: PATH, then SYSTEM_TOOL_DIRS); tests pass an empty list to play a machine without it.
 */
export function findTool(name: string, dirs?: readonly string[]): string | undefined {
  const search = dirs ?? [...(process.env.PATH ?? '').split(delimiter), ...SYSTEM_TOOL_DIRS]
  for (const dir of search) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      if (!statSync(candidate).isFile()) continue
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // Not here; try the next folder.
    }
  }
  return undefined
}

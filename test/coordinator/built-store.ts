// The SIGKILL crash tests run the compiled store in a child process: this finds it, and refuses a
// dist/ that is missing or older than the sources it mirrors (the child would test stale code).
import { existsSync, statSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The compiled level store's URL, once every `.ts` of `folders` has an up-to-date `.js` in dist/. */
export async function builtStoreUrl(
  folders: readonly string[] = ['coordinator/store', 'coordinator/jobs'],
): Promise<string> {
  for (const folder of folders) {
    for (const file of await readdir(join(ROOT, folder))) {
      if (!file.endsWith('.ts')) continue
      const built = join(ROOT, 'dist', folder, file.replace(/\.ts$/, '.js'))
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(ROOT, folder, file)).mtimeMs) {
        throw new Error(`${built} is missing or older than its source: run \`npx tsc -p .\` before this test`)
      }
    }
  }
  return pathToFileURL(join(ROOT, 'dist/coordinator/store/level-store.js')).href
}

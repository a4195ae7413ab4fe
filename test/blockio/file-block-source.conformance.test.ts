import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openFileBlockSource } from '../../blockio/file-block-source.js'
import { blockSourceConformance } from './block-source.conformance.js'
import { tempDir } from './helpers.js'

const temp = tempDir()

blockSourceConformance('FileBlockSource (raw image file)', {
  async open(bytes, blockSize) {
    const { dir } = await temp
    const path = join(dir, `${randomBytes(6).toString('hex')}.img`)
    await writeFile(path, bytes)
    return openFileBlockSource(path, { blockSize })
  },
  async cleanup() {
    await (await temp).remove()
  },
})

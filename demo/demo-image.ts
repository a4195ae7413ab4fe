/**
 * The disk image the demo replicates, of whichever *kind* this machine can make: `ext4` (a real
 * filesystem, demo/ext4-image.ts) where e2fsprogs is installed, else `generated` (mixed content,
 * demo/generated-image.ts). The result says which kind was made and why, for the demo to print,
 * and whether the restored image can be checked with e2fsck.
 */

import type { Mutation } from '../bench/replication/random-block-mutation.js'
import type { DemoFile } from './demo-files.js'
import {
  changeExt4Files,
  createExt4Image,
  type E2fsTools,
  type Ext4Changes,
  findE2fsTools,
} from './ext4-image.js'
import { changeGeneratedImage, createGeneratedImage } from './generated-image.js'

export interface DemoImageOptions {
  sizeBytes?: number
  seed?: number
  /** Folders searched for e2fsprogs instead of PATH, /sbin and /usr/sbin (tests play a bare machine). */
  toolDirs?: readonly string[]
  /** Where host files are staged for debugfs; default os.tmpdir(). */
  tempRoot?: string
}

export type DemoImage =
  | {
      kind: 'ext4'
      path: string
      sizeBytes: number
      seed: number
      reason: string
      tools: E2fsTools
      files: DemoFile[]
    }
  | { kind: 'generated'; path: string; sizeBytes: number; seed: number; reason: string }

export type DemoImageChange =
  | { kind: 'ext4'; changes: Ext4Changes }
  | { kind: 'generated'; mutation: Mutation }

/** Makes the demo image at `path`: ext4 when e2fsprogs is found, generated content otherwise. */
export async function createDemoImage(path: string, options: DemoImageOptions = {}): Promise<DemoImage> {
  const seed = options.seed ?? 1
  const found = findE2fsTools(options.toolDirs)
  if (found.tools) {
    const made = await createExt4Image(path, {
      sizeBytes: options.sizeBytes,
      seed,
      tools: found.tools,
      tempRoot: options.tempRoot,
    })
    return {
      kind: 'ext4',
      path,
      sizeBytes: made.sizeBytes,
      seed,
      reason: `ext4 filesystem made with ${found.tools.mkfs} and filled with ${made.files.length} files by debugfs`,
      tools: found.tools,
      files: made.files,
    }
  }
  const made = await createGeneratedImage(path, { sizeBytes: options.sizeBytes, seed })
  return {
    kind: 'generated',
    path,
    sizeBytes: made.sizeBytes,
    seed,
    reason: `generated mixed content instead of ext4: ${found.missing.join(', ')} not found (apt-get install e2fsprogs for a real filesystem)`,
  }
}

/** The changes made between two cycles, by the means of the image's kind. */
export async function changeDemoImage(
  image: DemoImage,
  round: number,
  options: { tempRoot?: string } = {},
): Promise<DemoImageChange> {
  if (image.kind === 'ext4') {
    const changes = await changeExt4Files(image.path, {
      round,
      seed: image.seed,
      tools: image.tools,
      tempRoot: options.tempRoot,
    })
    return { kind: 'ext4', changes }
  }
  return { kind: 'generated', mutation: await changeGeneratedImage(image.path, { round, seed: image.seed }) }
}

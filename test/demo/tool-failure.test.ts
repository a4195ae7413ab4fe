import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { changeExt4Files, checkExt4Image, createExt4Image, findE2fsTools } from '../../demo/ext4-image.js'
import { fakeTool, fileHash, MiB, tempDir } from './helpers.js'

const e2fsprogs = findE2fsTools()
const SIZE = 16 * MiB

describe('demo image tools failing', () => {
  let dir: string
  let staging: string
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ dir, remove } = await tempDir())
    staging = join(dir, 'staging')
    await mkdir(staging)
    await mkdir(join(dir, 'tools'))
  })
  afterEach(() => remove())

  /** The folder holds only what the test put there: no image, no build file, no host files. */
  async function expectNothingLeft(...expected: string[]) {
    expect((await readdir(dir)).sort()).toEqual(['staging', 'tools', ...expected].sort())
    expect(await readdir(staging)).toEqual([])
  }

  async function tools(overrides: { mkfs?: string; debugfs?: string; e2fsck?: string }) {
    const fallback = await fakeTool(join(dir, 'tools'), 'unused', 'exit 99')
    return {
      mkfs: overrides.mkfs ?? e2fsprogs.tools?.mkfs ?? fallback,
      debugfs: overrides.debugfs ?? e2fsprogs.tools?.debugfs ?? fallback,
      e2fsck: overrides.e2fsck ?? e2fsprogs.tools?.e2fsck ?? fallback,
    }
  }

  it('a failing mkfs.ext4 gives DEMO_IMAGE_TOOL_FAILED quoting its stderr, and leaves nothing', async () => {
    const mkfs = await fakeTool(
      join(dir, 'tools'),
      'mkfs.ext4',
      'echo "mkfs: no space left on device" >&2; exit 1',
    )
    const error = await createExt4Image(join(dir, 'disk.img'), {
      sizeBytes: SIZE,
      tempRoot: staging,
      tools: await tools({ mkfs }),
    }).catch((e) => e)
    expect(error).toMatchObject({
      code: 'DEMO_IMAGE_TOOL_FAILED',
      message: expect.stringMatching(/mkfs\.ext4 exited with code 1 .*no space left on device/),
      remediation: expect.any(String),
    })
    await expectNothingLeft()
  })

  it('a debugfs that reports errors on stderr (exit 0) is a failure; a hung tool is killed at its time limit', async () => {
    const complaining = await fakeTool(
      join(dir, 'tools'),
      'debugfs',
      'echo "debugfs 1.47.0 (5-Feb-2023)" >&2; echo "write: Could not allocate block in ext2 filesystem" >&2; exit 0',
    )
    await expect(
      createExt4Image(join(dir, 'disk.img'), {
        sizeBytes: SIZE,
        tempRoot: staging,
        tools: await tools({ debugfs: complaining }),
      }),
    ).rejects.toMatchObject({
      code: 'DEMO_IMAGE_TOOL_FAILED',
      message: expect.stringMatching(/debugfs reported errors .*Could not allocate block/),
    })
    await expectNothingLeft()
    const hanging = await fakeTool(join(dir, 'tools'), 'mkfs-hangs', 'exec sleep 20')
    const started = Date.now()
    await expect(
      createExt4Image(join(dir, 'disk.img'), {
        sizeBytes: SIZE,
        tempRoot: staging,
        timeoutMs: 300,
        tools: await tools({ mkfs: hanging }),
      }),
    ).rejects.toMatchObject({
      code: 'DEMO_IMAGE_TOOL_FAILED',
      message: expect.stringContaining('timed out'),
      retryable: true,
    })
    expect(Date.now() - started).toBeLessThan(10_000)
    await expectNothingLeft()
  })

  it('a missing tool gives DEMO_IMAGE_TOOL_MISSING naming apt-get install e2fsprogs', async () => {
    const absent = join(dir, 'tools', 'absent')
    const missing = { mkfs: absent, debugfs: absent, e2fsck: absent }
    const expected = {
      code: 'DEMO_IMAGE_TOOL_MISSING',
      remediation: expect.stringContaining('apt-get install e2fsprogs'),
    }
    await expect(
      createExt4Image(join(dir, 'disk.img'), { sizeBytes: SIZE, tempRoot: staging, tools: missing }),
    ).rejects.toMatchObject({
      ...expected,
      message: expect.stringContaining('mkfs.ext4'),
    })
    await expect(
      changeExt4Files(join(dir, 'disk.img'), { round: 1, tempRoot: staging, tools: missing }),
    ).rejects.toMatchObject(expected)
    await expect(checkExt4Image(join(dir, 'disk.img'), { tools: missing })).rejects.toMatchObject(expected)
    expect(findE2fsTools([join(dir, 'tools')]).missing).toEqual(['mkfs.ext4', 'debugfs', 'e2fsck'])
    expect(findE2fsTools([join(dir, 'tools')]).tools).toBeUndefined()
    await expectNothingLeft()
  })

  it('refuses bad options with DEMO_INVALID_OPTION before touching anything', async () => {
    const image = join(dir, 'disk.img')
    for (const options of [
      { sizeBytes: 1 * MiB },
      { sizeBytes: SIZE + 1 },
      { seed: -1 },
      { seed: 1.5 },
      { tempRoot: '/tmp/with space' },
    ]) {
      await expect(
        createExt4Image(image, { sizeBytes: SIZE, tempRoot: staging, ...options }),
      ).rejects.toMatchObject({
        code: 'DEMO_INVALID_OPTION',
      })
    }
    await expect(changeExt4Files(image, { round: 0 })).rejects.toMatchObject({ code: 'DEMO_INVALID_OPTION' })
    await expectNothingLeft()
  })

  it.skipIf(!e2fsprogs.tools)(
    'changing a file that is not ext4 fails with debugfs quoted and leaves the file as it was',
    async () => {
      const image = join(dir, 'not-ext4.img')
      await writeFile(image, new Uint8Array(SIZE).fill(1))
      const before = await fileHash(image)
      await expect(changeExt4Files(image, { round: 1, tempRoot: staging })).rejects.toMatchObject({
        code: 'DEMO_IMAGE_TOOL_FAILED',
        message: expect.stringContaining('debugfs'),
      })
      expect(await fileHash(image)).toBe(before)
      await expectNothingLeft('not-ext4.img')
    },
  )
})

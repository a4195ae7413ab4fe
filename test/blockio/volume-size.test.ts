import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openFileBlockSource } from '../../blockio/file-block-source.js'
import { blockDeviceSize, deviceNumbers } from '../../blockio/volume-size.js'
import { tempDir } from './helpers.js'

/** A dev_t built the way glibc's gnu_dev_makedev does. */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major)
  const mi = BigInt(minor)
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n)
}

async function fakeSysfs(root: string, major: number, minor: number, content: string): Promise<void> {
  const dir = join(root, 'dev', 'block', `${major}:${minor}`)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'size'), content)
}

/** A block device on this machine that can be opened for reading, if any. */
async function findReadableBlockDevice(): Promise<{ path: string; rdev: bigint } | undefined> {
  for (const name of await readdir('/dev').catch(() => [] as string[])) {
    const path = join('/dev', name)
    const info = await stat(path, { bigint: true }).catch(() => undefined)
    if (info?.isBlockDevice()) {
      const source = await openFileBlockSource(path, { sysfsRoot: '/nonexistent' }).catch((e: unknown) => e)
      // Opening succeeded up to sizing: the device itself is readable.
      if ((source as Error).message?.includes('size could not be read')) return { path, rdev: info.rdev }
    }
  }
  return undefined
}

describe('block device size from sysfs', () => {
  let dir: string
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ dir, remove } = await tempDir())
  })
  afterEach(async () => {
    await remove()
  })

  it('splits dev_t into major and minor like glibc, including large numbers', () => {
    for (const [major, minor] of [
      [8, 0],
      [254, 17],
      [259, 1048575],
      [4095, 255],
      [4096, 256],
      [1_000_000, 2_000_000],
    ] as const) {
      expect(deviceNumbers(makedev(major, minor))).toEqual({ major, minor })
    }
  })

  it('reads <sysfs>/dev/block/<major>:<minor>/size in 512-byte sectors', async () => {
    await fakeSysfs(dir, 259, 3, '2048\n')
    expect(await blockDeviceSize(makedev(259, 3), '/dev/fake', dir)).toBe(2048 * 512)
    await fakeSysfs(dir, 7, 0, '0\n')
    expect(await blockDeviceSize(makedev(7, 0), '/dev/fake', dir)).toBe(0)
  })

  it('refuses a missing sysfs entry with SOURCE_UNREADABLE naming the device', async () => {
    await expect(blockDeviceSize(makedev(8, 16), '/dev/sdb', dir)).rejects.toMatchObject({
      code: 'BLOCKIO_SOURCE_UNREADABLE',
      message: expect.stringContaining('/dev/sdb (8:16)'),
    })
  })

  it('refuses a size file that is not a sector count', async () => {
    for (const [minor, content] of [
      [1, 'abc\n'],
      [2, ''],
      [3, '-5\n'],
      [4, '1.5\n'],
      [5, '99999999999999999999\n'],
    ] as const) {
      await fakeSysfs(dir, 8, minor, content)
      await expect(blockDeviceSize(makedev(8, minor), '/dev/x', dir)).rejects.toMatchObject({
        code: 'BLOCKIO_SOURCE_UNREADABLE',
      })
    }
  })

  it('sizes a real block device from the sysfs root it is given', async (context) => {
    const device = await findReadableBlockDevice()
    if (device === undefined) {
      context.skip('no readable block device on this machine')
      return
    }
    const { major, minor } = deviceNumbers(device.rdev)
    await fakeSysfs(dir, major, minor, '24\n')
    const source = await openFileBlockSource(device.path, { sysfsRoot: dir, blockSize: 4096 })
    expect(source.size).toBe(24 * 512)
    expect(source.blockCount).toBe(3)
    await source.close()
  })
})

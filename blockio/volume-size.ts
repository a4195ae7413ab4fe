/**
 * The size of an open volume. A raw image file's size is its length; a Linux block device reports
 * length 0 to stat, so its size comes from sysfs: `<sysfs>/dev/block/<major>:<minor>/size` holds the
 * device's length in 512-byte sectors, whatever its logical sector size. The sysfs root is a
 * parameter so tests can point it at a fake tree.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BlockioError, BlockioErrorCode } from './errors.js'

export const DEFAULT_SYSFS_ROOT = '/sys'
/** sysfs counts block device sizes in 512-byte units on every Linux kernel (include/linux/blk_types.h). */
export const SYSFS_SECTOR_BYTES = 512

export interface DeviceNumbers {
  major: number
  minor: number
}

/** Splits a Linux `dev_t` (stat's rdev) the way glibc's gnu_dev_major / gnu_dev_minor do. */
export function deviceNumbers(rdev: bigint): DeviceNumbers {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)
  return { major: Number(major & 0xffffffffn), minor: Number(minor & 0xffffffffn) }
}

/** The size in bytes of the block device `rdev`, named `name` in messages. */
export async function blockDeviceSize(
  rdev: bigint,
  name: string,
  sysfsRoot = DEFAULT_SYSFS_ROOT,
): Promise<number> {
  const { major, minor } = deviceNumbers(rdev)
  const path = join(sysfsRoot, 'dev', 'block', `${major}:${minor}`, 'size')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new BlockioError(
      BlockioErrorCode.SOURCE_UNREADABLE,
      `block device ${name} (${major}:${minor}): its size could not be read from ${path}`,
      {
        remediation: 'Mount sysfs at /sys (it is needed to size block devices), or scan an image file.',
        cause,
      },
    )
  }
  const match = /^(\d+)\s*$/.exec(text)
  const bytes = match === null ? Number.NaN : Number(match[1]) * SYSFS_SECTOR_BYTES
  if (!Number.isSafeInteger(bytes)) {
    throw new BlockioError(
      BlockioErrorCode.SOURCE_UNREADABLE,
      `block device ${name} (${major}:${minor}): ${path} holds ${JSON.stringify(text.slice(0, 40))}, not a sector count`,
      { remediation: 'Check that sysfs is the kernel sysfs (mounted at /sys), not a stale copy.' },
    )
  }
  return bytes
}

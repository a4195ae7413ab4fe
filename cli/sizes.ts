/**
 * Byte sizes on the command line: a whole number with an optional binary suffix K, M, G or T
 * (KiB, MiB, GiB, TiB; an optional trailing "i" and "B" are accepted), e.g. `64K`, `4MiB`, `2G`.
 */
import { LifeboatError } from '../protocol/errors.js'

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }

export function parseSize(text: string, option: string): number {
  const match = /^(\d+)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim())
  const unit = match ? UNITS[match[2]!.toUpperCase()] : undefined
  const value = match && unit !== undefined ? Number(match[1]) * unit : Number.NaN
  if (!Number.isSafeInteger(value)) {
    throw new LifeboatError('CLI_USAGE_INVALID_SIZE', `${option} "${text}" is not a size`, {
      remediation: `Give ${option} as a whole number with an optional K, M, G or T suffix, e.g. 64K.`,
    })
  }
  return value
}

/** 1536 → "1.5 KiB"; for reports. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let i = 0
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024
    i++
  }
  return `${i === 0 ? value : value.toFixed(value >= 100 ? 0 : 1)} ${units[i]}`
}

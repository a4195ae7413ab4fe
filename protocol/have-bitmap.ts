/**
 * The `held` bitmap of a HAVE_ANSWER (docs/PROTOCOL.md §9): bit `i % 8`, least significant first,
 * of byte `⌊i / 8⌋` is 1 when the connector holds digest `i` of the query. Bits past the query's
 * count are 0, so one answer has exactly one encoding.
 */

/** Bytes of a bitmap for `count` digests. */
export function heldBitmapLength(count: number): number {
  return Math.ceil(count / 8)
}

/** A bitmap of `count` bits with bit i set when `isHeld(i)`. */
export function buildHeldBitmap(count: number, isHeld: (i: number) => boolean): Uint8Array {
  const bitmap = new Uint8Array(heldBitmapLength(count))
  for (let i = 0; i < count; i++) {
    if (isHeld(i)) bitmap[i >> 3] |= 1 << (i & 7)
  }
  return bitmap
}

/** Whether bit i is set; false past the bitmap. */
export function isHeld(bitmap: Uint8Array, i: number): boolean {
  return ((bitmap[i >> 3] ?? 0) & (1 << (i & 7))) !== 0
}

/** True when no bit at position ≥ count is set (the last byte's unused high bits). */
export function unusedBitsClear(bitmap: Uint8Array, count: number): boolean {
  const used = count & 7
  if (used === 0 || bitmap.length === 0) return true
  return bitmap[bitmap.length - 1] >> used === 0
}

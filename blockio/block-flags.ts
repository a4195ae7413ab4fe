/**
 * Per-block flags, one byte. Values are part of the block index format (docs/FORMATS.md
 * "Block index") and of block records on the wire: explicit, never reused.
 */
export const BlockFlag = {
  /** Every byte of the block is zero: no payload, never sent or stored. Stored in the index. */
  ZERO: 0x01,
  /** The payload is the block's plaintext: LZ4 did not shrink it. Records only. */
  RAW: 0x02,
  /** The block differs from the previous index (or lies in a CBT extent). Records only. */
  CHANGED: 0x04,
} as const

/** Flags that the block index keeps; the others describe one scan's payload. */
export const INDEX_FLAG_MASK = BlockFlag.ZERO

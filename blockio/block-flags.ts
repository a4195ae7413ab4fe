/**
 * Per-block flags, one byte. Values are part of the block index format (docs/FORMATS.md
 * "Block index") and of block records on the wire: explicit, never reused.
 */
export const BlockFlag = {
  /** Every byte of the block is zero: no payload, never sent or stored. Stored in the index. */
  ZERO: 0x01,
  /** The payload is the block's plaintext: LZ4 did not shrink it. Records only. */
  RAW: 0x02,
  /**
   * The block's digest or zero flag differs from the previous index, or there is no previous entry.
   * A block inside a change-tracking extent that was rewritten with the same bytes is not CHANGED,
   * so it is not sent. Scan records only; never on the wire (docs/PROTOCOL.md keeps 0x04 reserved).
   */
  CHANGED: 0x04,
} as const

/**
 * Flags that the block index keeps; the others describe one scan's payload. The wire's record flags
 * (protocol/block-records.ts `RecordFlag`) share ZERO and RAW and add HELD (0x08).
 */
export const INDEX_FLAG_MASK = BlockFlag.ZERO

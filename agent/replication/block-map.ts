/**
 * A volume's *block map* as the connector commits it (docs/PROTOCOL.md §9 COMMIT): for each block in
 * order its 32-byte digest, and 32 zero bytes for a zero block (the scan's index keeps BLAKE3 of
 * the zeros there instead, with the ZERO flag). The *map digest* is BLAKE3 over the map.
 */
import { blake3 as napiBlake3 } from '@napi-rs/blake-hash'
import { BlockFlag } from '../../blockio/block-flags.js'
import { type BlockIndex, DIGEST_LENGTH } from '../../blockio/block-index.js'

export function blockMapOf(index: BlockIndex): Uint8Array {
  const map = new Uint8Array(index.digests)
  for (let i = 0; i < index.blockCount; i++) {
    if ((index.flags[i]! & BlockFlag.ZERO) !== 0) map.fill(0, i * DIGEST_LENGTH, (i + 1) * DIGEST_LENGTH)
  }
  return map
}

/** BLAKE3 of the map, 64 lowercase hex characters. */
export function mapDigestHex(map: Uint8Array): string {
  return Buffer.from(napiBlake3(map)).toString('hex')
}

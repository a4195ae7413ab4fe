// Enrolment token secrets: their shape, their randomness and the hash that is all the store keeps.
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { describe, expect, it } from 'vitest'
import {
  ENROLMENT_SECRET_LENGTH,
  generateEnrolmentSecret,
  hashEnrolmentSecret,
  isWellFormedSecret,
} from '../../coordinator/store/enrolment-secret.js'

describe('enrolment token secrets', () => {
  it('are lbt_ and 32 random bytes in unpadded base64url, 47 characters', () => {
    expect(ENROLMENT_SECRET_LENGTH).toBe(47)
    const seen = new Set<string>()
    for (let n = 0; n < 64; n++) {
      const secret = generateEnrolmentSecret()
      expect(secret).toMatch(/^lbt_[A-Za-z0-9_-]{43}$/)
      expect(Buffer.from(secret.slice(4), 'base64url')).toHaveLength(32)
      expect(isWellFormedSecret(secret)).toBe(true)
      seen.add(secret)
    }
    expect(seen.size).toBe(64)
  })

  it('hash to the SHA-256 of their UTF-8 bytes, as lowercase hex (checked against @noble/hashes)', () => {
    const secret = generateEnrolmentSecret()
    expect(hashEnrolmentSecret(secret)).toBe(bytesToHex(sha256(new TextEncoder().encode(secret))))
    // FIPS 180-2 test vector: the hash of "abc".
    expect(hashEnrolmentSecret('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    )
  })

  it('are told apart from anything that is not shaped like one', () => {
    const good = generateEnrolmentSecret()
    const bad: unknown[] = [
      good.slice(0, -1),
      `${good}x`,
      good.replace('lbt_', 'LBT_'),
      good.replace('lbt_', ''),
      `lbt_${'='.repeat(43)}`,
      `lbt_${'+'.repeat(43)}`,
      ` ${good.slice(1)}`,
      undefined,
      null,
      47,
      { toString: () => good },
    ]
    for (const value of bad) expect(isWellFormedSecret(value)).toBe(false)
  })
})

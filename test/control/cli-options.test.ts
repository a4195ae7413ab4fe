import { describe, expect, it } from 'vitest'
import { parseCount, parseDuration, softwareVersion } from '../../cli/coordinator-command.js'

describe('CLI option parsing', () => {
  it('reads durations with a unit', () => {
    expect(parseDuration('500ms', '--x')).toBe(500)
    expect(parseDuration('5s', '--x')).toBe(5_000)
    expect(parseDuration('1.5m', '--x')).toBe(90_000)
    expect(parseDuration('24h', '--x')).toBe(86_400_000)
    expect(parseDuration('7d', '--x')).toBe(604_800_000)
    for (const bad of ['5', 'soon', '0s', '-1s', '5 parsecs', '']) {
      expect(() => parseDuration(bad, '--ttl')).toThrow(
        expect.objectContaining({ code: 'CLI_USAGE_INVALID_DURATION' }),
      )
    }
    expect(() => parseDuration('soon', '--ttl')).toThrow(/--ttl "soon" is not a duration/)
  })

  it('reads positive counts and the software version', () => {
    expect(parseCount('3', '--missed-heartbeats')).toBe(3)
    for (const bad of ['0', '-2', '1.5', 'three']) {
      expect(() => parseCount(bad, '--missed-heartbeats')).toThrow(
        expect.objectContaining({ code: 'CLI_USAGE_INVALID_NUMBER' }),
      )
    }
    expect(softwareVersion()).toMatch(/^lifeboat\/\d+\.\d+\.\d+/)
  })
})

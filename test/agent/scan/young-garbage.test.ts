import { describe, expect, it } from 'vitest'
import { YOUNG_GARBAGE_BYTES, YoungGarbage } from '../../../agent/scan/young-garbage.js'

describe('young garbage of native Buffers', () => {
  it('collects once the threshold of dropped bytes is reached, then waits one event-loop turn', async () => {
    const garbage = new YoungGarbage()
    expect(garbage.collecting).toBe(true)
    expect(garbage.dropped(YOUNG_GARBAGE_BYTES - 1)).toBeUndefined()
    let turned = false
    setImmediate(() => {
      turned = true
    })
    const collected = garbage.dropped(1)
    expect(collected).toBeInstanceOf(Promise)
    await collected
    expect(turned).toBe(true)
    // The count starts again after a collection.
    expect(garbage.dropped(YOUNG_GARBAGE_BYTES - 1)).toBeUndefined()
  })
})

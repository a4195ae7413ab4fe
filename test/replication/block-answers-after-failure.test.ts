// Found by the resume tests (resume.test.ts): when the connector dies mid-stream, the volume
// sender registers waits for answers (HAVE_ANSWER, BATCH_ACK) before it sends, and stops at the
// first failure without awaiting every one. A wait registered *after* the stream failed must be
// as harmless as one registered before: rejected, but never an unhandled rejection (which would
// end a real appliance process under Node's default `--unhandled-rejections=throw`).
import { afterEach, describe, expect, it } from 'vitest'
import { BlockAnswers } from '../../agent/blocks/block-answers.js'
import type { BlockChannel } from '../../transport/message-channel.js'

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason)
}

afterEach(() => {
  process.off('unhandledRejection', onUnhandled)
  unhandled.length = 0
})

/** A block channel whose connector closed the stream: every receive ends at once. */
function closedChannel(): BlockChannel {
  return {
    receive: async () => undefined,
    refuse: async () => undefined,
  } as unknown as BlockChannel
}

describe('BlockAnswers after the connector closed the stream', () => {
  it('a wait registered after the failure rejects with AGENT_BLOCKS_NO_ANSWER and is never unhandled', async () => {
    process.on('unhandledRejection', onUnhandled)
    const answers = new BlockAnswers(closedChannel(), 'connector-1')
    // Let the read loop see the end of the stream.
    await new Promise((resolve) => setTimeout(resolve, 10))
    const late = answers.batchAck(7)
    const alsoLate = answers.haveAnswer(8)
    // Neither is awaited for a while, as the sender does when its send fails first.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(unhandled).toEqual([])
    await expect(late).rejects.toMatchObject({ code: 'AGENT_BLOCKS_NO_ANSWER', retryable: true })
    await expect(alsoLate).rejects.toMatchObject({ code: 'AGENT_BLOCKS_NO_ANSWER' })
  })
})

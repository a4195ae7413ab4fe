// A connector started through startAgent with block listen addresses: enrolled with a real
// coordinator, it listens for block data, and an appliance agent (which never listens) dials it.
import { afterEach, describe, expect, it } from 'vitest'
import { openBlockStream } from '../../agent/blocks/index.js'
import { RemoteError } from '../../protocol/index.js'
import { Cleanup, startTestAgent, startTestCoordinator, withLimit } from '../control/helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('a connector agent with --block-listen', () => {
  it('serves block streams that an appliance agent dials, and refuses volumes as not supported', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const connector = await startTestAgent(cleanup, coordinator, {
      role: 'connector',
      token: await coordinator.token('connector'),
      blockListen: ['/ip4/127.0.0.1/tcp/0'],
    })
    const appliance = await startTestAgent(cleanup, coordinator, {
      role: 'appliance',
      token: await coordinator.token('appliance'),
    })
    expect(appliance.node.getMultiaddrs()).toEqual([])
    const addr = connector.node.getMultiaddrs()[0]!.toString()
    expect(addr).toContain(`/p2p/${connector.node.peerId.toString()}`)

    const blocks = await withLimit(
      openBlockStream(appliance.node, addr, {
        software: 'lifeboat/test',
        site: appliance.enrolment.node.site,
      }),
      'open block stream',
    )
    expect(blocks.connector).toMatchObject({ role: 'connector', site: 'dc1' })
    const refusal = await withLimit(
      blocks
        .openVolume({
          rid: 1,
          tenant: 'acme',
          vmId: 'vm-1',
          volumeId: 'disk-0',
          jobId: 'job-1',
          fencingToken: 1,
          blockSize: 65_536,
          volumeSize: 65_536,
          blockCount: 1,
        })
        .catch((e: unknown) => e),
      'open volume',
    )
    expect(refusal).toBeInstanceOf(RemoteError)
    expect(refusal).toMatchObject({ code: 'AGENT_BLOCKS_NOT_SUPPORTED', retryable: false })
  })
})

// A connector started through startAgent with block listen addresses: enrolled with a real
// coordinator, it listens for block data into its chunk store, and an appliance agent (which never
// listens) dials it and sends a volume.
import { afterEach, describe, expect, it } from 'vitest'
import { openBlockStream, sendVolume } from '../../agent/blocks/index.js'
import { Cleanup, startTestAgent, startTestCoordinator, withLimit } from '../control/helpers.js'
import { BLOCK_SIZE, makeVolume, openFor } from './volume-helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('a connector agent with --block-listen', () => {
  it('serves block streams that an appliance agent dials, and commits the volume it sends', async () => {
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
    const volume = makeVolume(3 * BLOCK_SIZE + 7, (i) => (i === 1 ? 'zero' : 'text'))
    const sent = await withLimit(
      sendVolume(blocks, {
        open: openFor(volume, { tenant: appliance.enrolment.node.tenant }),
        records: volume.records,
        blockMap: volume.blockMap,
      }),
      'send volume',
    )
    expect(sent).toMatchObject({ recoveryPointId: 'job-1.disk-0', recordsSent: 3, dataRecords: 3 })
  })
})

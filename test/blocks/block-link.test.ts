// The block link on loopback: an appliance node (no listen addresses) dials a connector's block
// listener, negotiates HELLO, and is refused OPEN_VOLUME as not supported; §5 and §6 refusals.
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BlockChannel,
  type BlockListener,
  blockListenAddresses,
  openBlockStream,
  startBlockListener,
} from '../../agent/blocks/index.js'
import { startAgent } from '../../agent/control/agent-runtime.js'
import {
  BLOCKS_PROTOCOL_ID,
  type DataMessage,
  type Hello,
  MessageType,
  type OpenVolume,
  RemoteError,
} from '../../protocol/index.js'
import { type LifeboatNode, openStreamOn } from '../../transport/index.js'
import { runCli } from '../cli/run-cli.js'
import { NodeSet, withLimit } from '../transport/helpers.js'

const nodes = new NodeSet()
const listeners: BlockListener[] = []

afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.stop()))
  await nodes.stopAll()
})

const OPEN: Omit<OpenVolume, 't'> = {
  rid: 7,
  tenant: 'acme',
  vmId: 'vm-1',
  volumeId: 'disk-0',
  jobId: 'job-1',
  fencingToken: 3,
  blockSize: 65_536,
  volumeSize: 1_048_576,
  blockCount: 16,
}

async function connectorAndAppliance(): Promise<{
  connector: LifeboatNode
  appliance: LifeboatNode
  addr: string
}> {
  const connector = await nodes.start({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  const listener = await startBlockListener(connector, { software: 'lifeboat/test', site: 'site-a' })
  listeners.push(listener)
  const appliance = await nodes.start()
  expect(appliance.getMultiaddrs()).toEqual([])
  return { connector, appliance, addr: listener.addresses[0]! }
}

/** A raw block channel from `appliance` to the connector at `addr`, for frames the client never sends. */
async function rawChannel(appliance: LifeboatNode, addr: string): Promise<BlockChannel> {
  const { multiaddr } = await import('@multiformats/multiaddr')
  const connection = await appliance.dial(multiaddr(addr))
  return new BlockChannel(await openStreamOn(connection, BLOCKS_PROTOCOL_ID))
}

function hello(node: LifeboatNode, major = 1, minor = 0, role: Hello['role'] = 'appliance'): Hello {
  return {
    t: MessageType.HELLO,
    protocol: { major, minor },
    nodeId: node.peerId.toString(),
    role,
    software: 'x/1',
  }
}

async function next(channel: BlockChannel): Promise<DataMessage | undefined> {
  return withLimit(channel.receive(), 'next frame')
}

describe('block listener and client', () => {
  it('negotiates HELLO and refuses OPEN_VOLUME as not supported, then closes', async () => {
    const { connector, appliance, addr } = await connectorAndAppliance()
    const blocks = await withLimit(openBlockStream(appliance, addr, { software: 'lifeboat/test' }), 'open')
    expect(blocks.version).toEqual({ major: 1, minor: 0 })
    expect(blocks.connector).toMatchObject({
      role: 'connector',
      nodeId: connector.peerId.toString(),
      site: 'site-a',
    })
    // The appliance dialled; the connector has an inbound connection and never dialled back.
    expect(blocks.connection.direction).toBe('outbound')
    expect(connector.getConnections(appliance.peerId).every((c) => c.direction === 'inbound')).toBe(true)

    const refusal = await withLimit(blocks.openVolume(OPEN), 'open volume').catch((e: unknown) => e)
    expect(refusal).toBeInstanceOf(RemoteError)
    expect(refusal).toMatchObject({
      code: 'AGENT_BLOCKS_NOT_SUPPORTED',
      message: 'this connector cannot store blocks yet',
      retryable: false,
      reType: MessageType.OPEN_VOLUME,
      reId: 7,
    })
    expect((refusal as RemoteError).remediation).toMatch(/upgrade/i)
    // Closed after the refusal: nothing more comes.
    await expect(withLimit(blocks.channel.receive(), 'end').catch(() => undefined)).resolves.toBeUndefined()
  })

  it('answers a HELLO of another major with an ERROR naming both versions, then closes', async () => {
    const { appliance, addr } = await connectorAndAppliance()
    const channel = await rawChannel(appliance, addr)
    await channel.send(hello(appliance, 2, 1))
    const error = await withLimit(channel.receiveHello(), 'answer').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).toMatchObject({ code: 'PROTOCOL_VERSION_MISMATCH', retryable: false })
    expect((error as Error).message).toContain('2.1')
    expect((error as Error).message).toContain('1.0')
  })

  it('refuses a connector that answers in another major, naming both versions', async () => {
    const connector = await nodes.start({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const theirs = new Promise<DataMessage | undefined>((resolve) => {
      void connector.handle(BLOCKS_PROTOCOL_ID, (stream) => {
        const channel = new BlockChannel(stream)
        void (async () => {
          await channel.receiveHello()
          await channel.send(hello(connector, 3, 2, 'connector'))
          resolve(await channel.receive().catch(() => undefined))
        })()
      })
    })
    const appliance = await nodes.start()
    const addr = connector.getMultiaddrs()[0]!.toString()
    const error = await withLimit(openBlockStream(appliance, addr, { software: 'x/1' }), 'open').catch(
      (e) => e,
    )
    expect(error).toMatchObject({ code: 'PROTOCOL_VERSION_MISMATCH' })
    expect((error as Error).message).toBe('peer speaks protocol 3.2, this side speaks 1.0')
    // The connector was told too, with the same words.
    expect(await withLimit(theirs, 'their error')).toMatchObject({
      t: MessageType.ERROR,
      code: 'PROTOCOL_VERSION_MISMATCH',
    })
  })

  it('answers a malformed frame and an out-of-place message with an ERROR; the stream stays usable', async () => {
    const { connector, appliance, addr } = await connectorAndAppliance()
    const channel = await rawChannel(appliance, addr)
    await channel.send(hello(appliance))
    expect(await withLimit(channel.receiveHello(), 'hello')).toMatchObject({
      nodeId: connector.peerId.toString(),
    })

    await channel.sendRawFrame(Uint8Array.of(0xc1)) // a msgpack byte that is never valid
    expect(await next(channel)).toMatchObject({ t: MessageType.ERROR, code: 'PROTOCOL_MALFORMED' })

    await channel.sendRawFrame(Uint8Array.of(0x81, 0xa1, 0x74, 0x63)) // { t: 99 }
    expect(await next(channel)).toMatchObject({ t: MessageType.ERROR, code: 'PROTOCOL_UNKNOWN_TYPE' })

    await channel.send({
      t: MessageType.BLOCK_BATCH,
      seq: 1,
      records: [{ index: 0, digest: new Uint8Array(32), flags: 1, payload: new Uint8Array(0) }],
    })
    expect(await next(channel)).toMatchObject({
      t: MessageType.ERROR,
      code: 'PROTOCOL_UNEXPECTED_MESSAGE',
      reType: MessageType.BLOCK_BATCH,
      reId: 1,
    })

    await channel.send({ ...OPEN, t: MessageType.OPEN_VOLUME })
    expect(await next(channel)).toMatchObject({
      t: MessageType.ERROR,
      code: 'AGENT_BLOCKS_NOT_SUPPORTED',
      reId: 7,
    })
  })

  it('closes the stream after too many bad frames in a row', async () => {
    const { appliance, addr } = await connectorAndAppliance()
    const channel = await rawChannel(appliance, addr)
    await channel.send(hello(appliance))
    await withLimit(channel.receiveHello(), 'hello')
    const codes: string[] = []
    for (let i = 0; i < 16; i++) {
      await channel.sendRawFrame(Uint8Array.of(0xc1)).catch(() => undefined)
    }
    for (;;) {
      const message = await withLimit(channel.receive(), 'frame').catch(() => undefined)
      if (message === undefined) break
      if (message.t === MessageType.ERROR) codes.push(message.code)
    }
    expect(codes.at(-1)).toBe('PROTOCOL_TOO_MANY_ERRORS')
  })

  it('refuses a connector on the appliance side of a block stream', async () => {
    const { connector, addr } = await connectorAndAppliance()
    const other = await nodes.start()
    const channel = await rawChannel(other, addr)
    await channel.send(hello(other, 1, 0, 'connector'))
    const error = await withLimit(channel.receiveHello(), 'answer').catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'PROTOCOL_UNEXPECTED_ROLE' })
    expect(connector.getMultiaddrs().length).toBeGreaterThan(0)
  })

  it('refuses a HELLO naming another node than the connection', async () => {
    const { connector, appliance, addr } = await connectorAndAppliance()
    const channel = await rawChannel(appliance, addr)
    await channel.send({ ...hello(appliance), nodeId: connector.peerId.toString() })
    const error = await withLimit(channel.receiveHello(), 'answer').catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'AGENT_BLOCKS_NODE_ID_MISMATCH' })
  })

  it('needs the connector id at the end of the address it dials', async () => {
    const appliance = await nodes.start()
    await expect(
      openBlockStream(appliance, '/ip4/127.0.0.1/tcp/7410', { software: 'x/1' }),
    ).rejects.toMatchObject({
      code: 'AGENT_BLOCKS_INVALID_OPTION',
    })
  })
})

describe('block listen addresses', () => {
  it('are for connectors only', () => {
    expect(blockListenAddresses('connector', ['/ip4/127.0.0.1/tcp/7410'])).toEqual([
      '/ip4/127.0.0.1/tcp/7410',
    ])
    expect(blockListenAddresses('appliance', undefined)).toEqual([])
    expect(() => blockListenAddresses('appliance', ['/ip4/127.0.0.1/tcp/7410'])).toThrow(
      expect.objectContaining({ code: 'AGENT_BLOCKS_INVALID_OPTION' }),
    )
    expect(() => blockListenAddresses('connector', ['not an address'])).toThrow(
      expect.objectContaining({ code: 'AGENT_BLOCKS_INVALID_OPTION' }),
    )
  })

  it('refuse an appliance start with block listen addresses before touching the data directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-blocks-'))
    try {
      const dataDir = join(dir, 'node')
      await expect(
        startAgent({
          dataDir,
          role: 'appliance',
          coordinator: '/ip4/127.0.0.1/tcp/4100/p2p/12D3KooWGRUVh7mHQxDMQ5Yk3N4PdZG4HnQpBgJHVF1sXzR2nCqm',
          blockListen: ['/ip4/127.0.0.1/tcp/0'],
        }),
      ).rejects.toMatchObject({ code: 'AGENT_BLOCKS_INVALID_OPTION' })
      await expect(stat(dataDir)).rejects.toMatchObject({ code: 'ENOENT' })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuse `lifeboat agent start --role appliance --block-listen` with a usage error', async () => {
    const run = await runCli([
      'agent',
      'start',
      '--data-dir',
      join(tmpdir(), 'lifeboat-never-created'),
      '--coordinator',
      '/ip4/127.0.0.1/tcp/4100/p2p/12D3KooWGRUVh7mHQxDMQ5Yk3N4PdZG4HnQpBgJHVF1sXzR2nCqm',
      '--role',
      'appliance',
      '--block-listen',
      '/ip4/127.0.0.1/tcp/7410',
    ])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('CLI_USAGE_BLOCK_LISTEN_ROLE')
  })
})

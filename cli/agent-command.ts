/**
 * `lifeboat agent start`: run a node (an appliance or a connector) against a coordinator. On the
 * first start the node enrols with the one-time token (`--token`, or the LIFEBOAT_ENROL_TOKEN
 * environment variable, which keeps it out of the process list) and remembers it in its data
 * directory; every start then keeps one connection to the coordinator and heartbeats on it. JSON
 * logs (pino) on stdout; SIGINT / SIGTERM stop it cleanly. A refused token, or a session refusal
 * a retry cannot fix, ends it with the coordinator's coded error. The agent's modules are imported
 * when the command runs, not when the CLI starts.
 */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { LifeboatError } from '../protocol/errors.js'
import { parseDuration, softwareVersion, untilAborted } from './coordinator-command.js'

/** Where the token is read from when `--token` is not given. */
export const TOKEN_ENV = 'LIFEBOAT_ENROL_TOKEN'

interface AgentStartOptions {
  dataDir: string
  coordinator: string
  role: string
  token?: string
  enrolAddress?: string
  heartbeatInterval: string
  name?: string
  blockListen?: string[]
  volumeMap?: string
  chunkStore?: string
  masterKey?: string
}

export function registerAgentCommand(program: Command, signal: AbortSignal): void {
  program
    .command('agent')
    .description('a replication appliance or cloud connector node')
    .command('start')
    .description('enrol if needed, then keep connected to the coordinator and heartbeat; JSON logs on stdout')
    .requiredOption('--data-dir <dir>', 'the node identity key and its enrolment')
    .requiredOption('--coordinator <multiaddr>', 'the coordinator control address, ending in /p2p/<peer id>')
    .requiredOption('--role <role>', 'appliance or connector')
    .option('--token <token>', `one-time enrolment token, first start only (or $${TOKEN_ENV})`)
    .option('--enrol-address <multiaddr>', 'the coordinator enrolment address (default: control port + 1)')
    .option('--heartbeat-interval <duration>', 'how often to report load', '5s')
    .option('--name <name>', 'the node name shown to people (default: the host name)')
    .option(
      '--block-listen <multiaddr...>',
      'connector only: listen here for block data appliances send (e.g. /ip4/0.0.0.0/tcp/7410)',
    )
    .option(
      '--volume-map <file>',
      'appliance only: the JSON map of volume id → image or device (docs/FORMATS.md "Volume map"); without it the appliance declines replication cycles',
    )
    .option(
      '--chunk-store <dir>',
      'connector only: where recovery points are stored (default <data-dir>/chunks)',
    )
    .option(
      '--master-key <file>',
      'connector only: the 32-byte master key wrapping tenant data keys (default <data-dir>/master.key, created on first start)',
    )
    .action(async (options: AgentStartOptions) => {
      await runAgent(options, signal)
    })
}

async function runAgent(options: AgentStartOptions, signal: AbortSignal): Promise<void> {
  const role = options.role
  if (role !== 'appliance' && role !== 'connector') {
    throw new LifeboatError('CLI_USAGE_INVALID_ROLE', `--role "${role}" is not a node role`, {
      remediation: 'Give --role appliance (a replication source) or --role connector (a recovery target).',
    })
  }
  if (options.blockListen !== undefined && role !== 'connector') {
    throw new LifeboatError(
      'CLI_USAGE_BLOCK_LISTEN_ROLE',
      `--block-listen is for connectors, not a ${role}`,
      {
        remediation:
          'An appliance dials connectors and never listens: drop --block-listen, or use --role connector.',
      },
    )
  }
  if (options.volumeMap !== undefined && role !== 'appliance') {
    throw new LifeboatError('CLI_USAGE_VOLUME_MAP_ROLE', `--volume-map is for appliances, not a ${role}`, {
      remediation: 'Only an appliance reads volumes: drop --volume-map, or use --role appliance.',
    })
  }
  if ((options.chunkStore !== undefined || options.masterKey !== undefined) && role !== 'connector') {
    throw new LifeboatError(
      'CLI_USAGE_CHUNK_STORE_ROLE',
      `--chunk-store and --master-key are for connectors, not a ${role}`,
      {
        remediation: 'Only a connector stores recovery points: drop them, or use --role connector.',
      },
    )
  }
  const heartbeatIntervalMs = parseDuration(options.heartbeatInterval, '--heartbeat-interval')
  const { pino } = await import('pino')
  const { startAgent } = await import('../agent/control/index.js')
  const logger = pino({ base: { name: 'lifeboat-agent', pid: process.pid } })
  const agent = await startAgent(
    {
      dataDir: options.dataDir,
      coordinator: options.coordinator,
      role,
      token: options.token ?? process.env[TOKEN_ENV],
      enrolAddress: options.enrolAddress,
      heartbeatIntervalMs,
      name: options.name,
      blockListen: options.blockListen,
      replication: {
        volumeMapPath: options.volumeMap === undefined ? undefined : resolve(options.volumeMap),
        chunkStoreDir: options.chunkStore,
        masterKeyPath: options.masterKey,
      },
      software: softwareVersion(),
      signal,
    },
    { logger },
  )
  const { node } = agent.enrolment
  logger.info(
    {
      event: 'agent-started',
      nodeId: agent.node.peerId.toString(),
      role: node.role,
      tenantId: node.tenant,
      siteId: node.site,
      enrolledNow: agent.enrolledNow,
      coordinator: options.coordinator,
      blockAddresses: options.blockListen === undefined ? undefined : agent.node.getMultiaddrs().map(String),
    },
    'agent started',
  )
  let refusal: Error | undefined
  const refused = agent.client.events.next('refused').then(({ error }) => {
    refusal = error
  })
  await Promise.race([untilAborted(signal), refused])
  logger.info({ event: 'agent-stopping' }, 'stopping')
  await agent.stop()
  logger.info({ event: 'agent-stopped' }, 'agent stopped')
  logger.flush()
  if (refusal !== undefined) throw refusal
}

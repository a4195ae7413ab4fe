/**
 * `lifeboat coordinator …`: run the coordinator's control link, and issue enrolment tokens.
 *
 * `coordinator start` opens the data directory (identity, store, admin socket), listens for nodes
 * on the control and enrolment listeners, logs JSON lines (pino) on stdout — the first says which
 * peer id and addresses nodes use — and stops cleanly on SIGINT / SIGTERM.
 *
 * `coordinator token create` mints a one-time enrolment token. The store's lock keeps a second
 * process out while the coordinator runs, so the command asks the running coordinator through its
 * admin socket, and opens the store itself only when no coordinator answers there.
 *
 * The coordinator's modules (libp2p, classic-level) are imported when a command runs, not when the
 * CLI starts: `lifeboat scan` and `--help` do not pay a second of loading for them.
 */
import { readFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import type { IssuedToken, TokenRequest } from '../coordinator/control/index.js'
import { LifeboatError } from '../protocol/errors.js'

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `500ms`, `5s`, `1.5m`, `24h`, `7d` as milliseconds; anything else is a usage error naming the option. */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim())
  const ms = match === null ? Number.NaN : Math.round(Number(match[1]) * DURATION_UNITS[match[2]!]!)
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new LifeboatError('CLI_USAGE_INVALID_DURATION', `${option} "${text}" is not a duration`, {
      remediation: `Give ${option} as a number and a unit: 500ms, 5s, 10m, 24h or 7d.`,
    })
  }
  return ms
}

/** A positive whole number option. */
export function parseCount(text: string, option: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new LifeboatError(
      'CLI_USAGE_INVALID_NUMBER',
      `${option} "${text}" is not a positive whole number`,
      {
        remediation: `Give ${option} as a whole number of at least 1.`,
      },
    )
  }
  return n
}

/** `lifeboat/<version>` from the package.json above this module (source or dist). */
export function softwareVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string
        version?: string
      }
      if (pkg.name === 'lifeboat' && typeof pkg.version === 'string') return `lifeboat/${pkg.version}`
    } catch {
      // Not here: look one directory up.
    }
    dir = dirname(dir)
  }
  return 'lifeboat'
}

/** Resolves when `signal` fires (at once if it already has). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}

/** coordinator/control/options.ts DEFAULT_CONTROL_LISTEN, for the help text only. */
const DEFAULT_LISTEN_HELP = '/ip4/127.0.0.1/tcp/7400'

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

interface StartOptions {
  dataDir: string
  listen: string[]
  enrolListen: string[]
  heartbeatInterval: string
  missedHeartbeats: string
  schedulerInterval?: string
  dispatchInterval?: string
  ackDeadline?: string
  leaseTtl?: string
  jobRetention?: string
}

interface TokenOptions {
  dataDir: string
  tenant: string
  site: string
  role: string
  ttl: string
  json?: boolean
}

export function registerCoordinatorCommand(program: Command, signal: AbortSignal): void {
  const coordinator = program
    .command('coordinator')
    .description('the control plane: node enrolment and liveness')
  coordinator
    .command('start')
    .description('run the coordinator: control and enrolment listeners, admin socket; JSON logs on stdout')
    .requiredOption('--data-dir <dir>', 'identity key, metadata store and admin socket')
    .option(
      '--listen <multiaddr>',
      `control listener, repeatable (default ${DEFAULT_LISTEN_HELP})`,
      collect,
      [],
    )
    .option(
      '--enrol-listen <multiaddr>',
      'enrolment listener, repeatable (default: control port + 1)',
      collect,
      [],
    )
    .option('--heartbeat-interval <duration>', 'expected node heartbeat interval', '5s')
    .option('--missed-heartbeats <n>', 'missed heartbeats before a node is offline', '3')
    .option('--scheduler-interval <duration>', 'how often plans are evaluated (default 30s)')
    .option('--dispatch-interval <duration>', 'how often an unpoked dispatch pass runs (default 1s)')
    .option('--ack-deadline <duration>', 'how long a node has to acknowledge a job offer (default 60s)')
    .option('--lease-ttl <duration>', 'the lease TTL each job offer announces (default 60s)')
    .option('--job-retention <duration>', 'how long finished jobs and their logs are kept (default 7d)')
    .action(async (options: StartOptions) => {
      await runCoordinator(options, signal)
    })
  coordinator
    .command('token')
    .description('enrolment tokens')
    .command('create')
    .description('mint a one-time enrolment token (creates the tenant and site if needed)')
    .requiredOption('--data-dir <dir>', 'the coordinator data directory')
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--site <id>', 'site id')
    .requiredOption('--role <role>', 'appliance or connector')
    .option('--ttl <duration>', 'lifetime of the token', '24h')
    .option('--json', 'print one JSON line instead of text')
    .action(async (options: TokenOptions) => {
      await createToken(options)
    })
}

async function runCoordinator(options: StartOptions, signal: AbortSignal): Promise<void> {
  const heartbeatIntervalMs = parseDuration(options.heartbeatInterval, '--heartbeat-interval')
  const missedHeartbeats = parseCount(options.missedHeartbeats, '--missed-heartbeats')
  const optionalDuration = (text: string | undefined, option: string): number | undefined =>
    text === undefined ? undefined : parseDuration(text, option)
  const jobs = {
    schedulerIntervalMs: optionalDuration(options.schedulerInterval, '--scheduler-interval'),
    dispatchIntervalMs: optionalDuration(options.dispatchInterval, '--dispatch-interval'),
    ackDeadlineMs: optionalDuration(options.ackDeadline, '--ack-deadline'),
    leaseTtlMs: optionalDuration(options.leaseTtl, '--lease-ttl'),
    jobRetentionMs: optionalDuration(options.jobRetention, '--job-retention'),
  }
  const { pino } = await import('pino')
  const { startCoordinator } = await import('../coordinator/control/index.js')
  const logger = pino({ base: { name: 'lifeboat-coordinator', pid: process.pid } })
  const coordinator = await startCoordinator(
    {
      dataDir: options.dataDir,
      listen: options.listen.length > 0 ? options.listen : undefined,
      enrolListen: options.enrolListen.length > 0 ? options.enrolListen : undefined,
      heartbeatIntervalMs,
      missedHeartbeats,
      jobs,
      software: softwareVersion(),
      signal,
    },
    { logger },
  )
  logger.info(
    {
      event: 'coordinator-started',
      peerId: coordinator.peerId,
      addresses: coordinator.server.addresses(),
      enrolAddresses: coordinator.server.enrolAddresses(),
      adminSocket: coordinator.admin.socketPath,
      dataDir: options.dataDir,
    },
    'coordinator started',
  )
  await untilAborted(signal)
  logger.info({ event: 'coordinator-stopping' }, 'stopping')
  await coordinator.stop()
  logger.info({ event: 'coordinator-stopped' }, 'coordinator stopped')
  logger.flush()
}

async function createToken(options: TokenOptions): Promise<void> {
  const { adminSocketPath, ControlErrorCode, parseTokenRequest, requestEnrolmentToken } = await import(
    '../coordinator/control/index.js'
  )
  const role = options.role
  if (role !== 'appliance' && role !== 'connector') {
    throw new LifeboatError('CLI_USAGE_INVALID_ROLE', `--role "${role}" is not a node role`, {
      remediation: 'Give --role appliance (a replication source) or --role connector (a recovery target).',
    })
  }
  let request: TokenRequest
  try {
    request = parseTokenRequest({
      tenant: options.tenant,
      site: options.site,
      role,
      ttlMs: parseDuration(options.ttl, '--ttl'),
    })
  } catch (error) {
    if ((error as { code?: unknown }).code !== ControlErrorCode.ADMIN_BAD_REQUEST) throw error
    throw new LifeboatError('CLI_USAGE_INVALID_TOKEN_REQUEST', (error as Error).message, {
      remediation: 'Ids are letters, digits, ".", "_" and "-"; --ttl is between 1s and 30d.',
    })
  }
  let issued: IssuedToken
  let via: 'coordinator' | 'store'
  try {
    issued = await requestEnrolmentToken(adminSocketPath(options.dataDir), request)
    via = 'coordinator'
  } catch (error) {
    if ((error as { code?: unknown }).code !== ControlErrorCode.ADMIN_UNAVAILABLE) throw error
    issued = await issueOnStore(options.dataDir, request)
    via = 'store'
  }
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify({ event: 'token', via, ...issued })}\n`)
    return
  }
  if (issued.createdTenant) process.stderr.write(`created tenant ${issued.tenant}\n`)
  if (issued.createdSite) process.stderr.write(`created site ${issued.site} in tenant ${issued.tenant}\n`)
  process.stderr.write(
    `enrolment token for one ${issued.role} in ${issued.tenant}/${issued.site}, single use, ` +
      `expires ${new Date(issued.expiresAt).toISOString()}:\n`,
  )
  process.stdout.write(`${issued.token}\n`)
}

/** No coordinator runs on the directory: issue on the store directly (its lock keeps others out). */
async function issueOnStore(dataDir: string, request: TokenRequest): Promise<IssuedToken> {
  const { DATA_DIR_MODE, issueEnrolmentToken, storePath } = await import('../coordinator/control/index.js')
  const { createLevelStore } = await import('../coordinator/store/level-store.js')
  await mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE })
  const store = createLevelStore({ location: storePath(dataDir) })
  await store.open()
  try {
    return await issueEnrolmentToken(store, request, Date.now())
  } finally {
    await store.close()
  }
}

/**
 * The coordinator's local admin endpoint: an HTTP server on a Unix socket in the data directory
 * (`<data-dir>/admin.sock`, mode 0600, in a directory of mode 0700). It exists because the store's
 * LevelDB lock keeps every other process out while the coordinator runs, so an operator's command
 * (`lifeboat coordinator token create`) asks the running coordinator instead of opening the store.
 * Reaching the socket is the authorisation: only the coordinator's own user can.
 *
 * Routes: `POST /v1/tokens` with a token request (token-issue.ts) → 201 and the issued token.
 * Every error is `{ code, message, remediation, retryable }` JSON with a matching HTTP status.
 */
import { chmod, lstat, unlink } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { toErrorBody } from '../../protocol/index.js'
import type { MetadataStore } from '../store/metadata-store.js'
import { ControlError, ControlErrorCode, checkInteger, invalidOption } from './errors.js'
import { type ControlLogger, silentLogger } from './logger.js'
import { issueEnrolmentToken, parseTokenRequest } from './token-issue.js'

/** The socket's file name inside the data directory. */
export const ADMIN_SOCKET_NAME = 'admin.sock'
/** Owner read/write only: whoever can connect can issue tokens. */
export const ADMIN_SOCKET_MODE = 0o600
/** Largest request body; a token request is under 200 bytes. */
export const DEFAULT_MAX_ADMIN_BODY_BYTES = 64 * 1024
/** A request (headers and body) must arrive within this. */
export const ADMIN_REQUEST_TIMEOUT_MS = 10_000
/** A Unix socket path must fit `sun_path` (108 bytes on Linux, 104 on macOS) with its NUL. */
export const MAX_SOCKET_PATH_BYTES = 103

export interface AdminServerInit {
  socketPath: string
  /** Default DEFAULT_MAX_ADMIN_BODY_BYTES. */
  maxBodyBytes?: number
}

export interface AdminServerComponents {
  store: Pick<MetadataStore, 'getTenant' | 'createTenant' | 'getSite' | 'createSite' | 'createEnrolmentToken'>
  logger?: ControlLogger
  now?: () => number
}

export interface AdminServer {
  readonly socketPath: string
  /** Listens on the socket, replacing a stale one left by a crash. Idempotent. */
  start(): Promise<void>
  /** Stops listening, drops open connections and removes the socket file. Idempotent. */
  stop(): Promise<void>
}

type Route = (body: unknown) => Promise<{ status: number; body: unknown }>

export function createAdminServer(init: AdminServerInit, components: AdminServerComponents): AdminServer {
  const socketPath = init.socketPath
  if (typeof socketPath !== 'string' || socketPath.length === 0) {
    throw invalidOption('socketPath', 'must be a file path')
  }
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw invalidOption(
      'socketPath',
      `${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes, the limit of a Unix socket path: use a shorter data directory`,
    )
  }
  const maxBodyBytes = checkInteger(
    'maxBodyBytes',
    init.maxBodyBytes ?? DEFAULT_MAX_ADMIN_BODY_BYTES,
    1,
    16 * 1024 * 1024,
  )
  const logger = components.logger ?? silentLogger
  const now = components.now ?? Date.now
  const routes = new Map<string, Map<string, Route>>([
    [
      '/v1/tokens',
      new Map([
        [
          'POST',
          async (body: unknown) => {
            const issued = await issueEnrolmentToken(components.store, parseTokenRequest(body), now())
            logger.info(
              {
                event: 'token-issued',
                tokenId: issued.tokenId,
                tenantId: issued.tenant,
                siteId: issued.site,
                role: issued.role,
                expiresAt: issued.expiresAt,
                createdTenant: issued.createdTenant,
                createdSite: issued.createdSite,
              },
              'enrolment token issued',
            )
            return { status: 201, body: issued }
          },
        ],
      ]),
    ],
  ])

  let server: Server | undefined

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    try {
      const path = new URL(request.url ?? '/', 'http://admin').pathname
      const methods = routes.get(path)
      if (methods === undefined) throw adminError(ControlErrorCode.ADMIN_NOT_FOUND, `no admin route ${path}`)
      const route = methods.get(request.method ?? '')
      if (route === undefined) {
        response.setHeader('Allow', [...methods.keys()].join(', '))
        throw adminError(
          ControlErrorCode.ADMIN_METHOD_NOT_ALLOWED,
          `${request.method} is not allowed on ${path}`,
        )
      }
      const answer = await route(await readJsonBody(request, maxBodyBytes))
      send(response, answer.status, answer.body)
    } catch (error) {
      const body = toErrorBody(error)
      const status = statusFor(body.code)
      if (status >= 500) logger.error({ event: 'admin-failed', code: body.code, err: error }, body.message)
      send(response, status, body)
    }
  }

  return {
    socketPath,
    async start() {
      if (server !== undefined) return
      await removeStaleSocket(socketPath)
      const created = createServer({ requestTimeout: ADMIN_REQUEST_TIMEOUT_MS }, (request, response) => {
        void handle(request, response)
      })
      created.headersTimeout = ADMIN_REQUEST_TIMEOUT_MS
      await new Promise<void>((resolve, reject) => {
        created.once('error', reject)
        created.listen(socketPath, () => {
          created.off('error', reject)
          resolve()
        })
      })
      await chmod(socketPath, ADMIN_SOCKET_MODE)
      server = created
    },
    async stop() {
      const running = server
      if (running === undefined) return
      server = undefined
      const closed = new Promise<void>((resolve) => running.close(() => resolve()))
      running.closeAllConnections()
      await closed
      await unlink(socketPath).catch(() => undefined)
    },
  }
}

/** The request body parsed as JSON, refused above `maxBytes` or when it is not JSON. */
async function readJsonBody(request: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? 0)
  if (declared > maxBytes) throw tooLarge(maxBytes)
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of request) {
    total += (chunk as Buffer).length
    if (total > maxBytes) throw tooLarge(maxBytes)
    chunks.push(chunk as Buffer)
  }
  const text = Buffer.concat(chunks, total).toString('utf8')
  try {
    return JSON.parse(text)
  } catch (error) {
    throw adminError(ControlErrorCode.ADMIN_BAD_REQUEST, `the body is not JSON: ${(error as Error).message}`)
  }
}

/** A socket file left by a coordinator that crashed. The caller holds the store, so none runs. */
async function removeStaleSocket(path: string): Promise<void> {
  let stat: Awaited<ReturnType<typeof lstat>>
  try {
    stat = await lstat(path)
  } catch {
    return
  }
  if (!stat.isSocket()) throw invalidOption('socketPath', `${path} exists and is not a socket: remove it`)
  await unlink(path)
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`
  response.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  })
  response.end(text)
}

function statusFor(code: string): number {
  switch (code) {
    case ControlErrorCode.ADMIN_BAD_REQUEST:
    case 'STORE_INVALID_ID':
    case 'STORE_INVALID_ARGUMENT':
      return 400
    case ControlErrorCode.ADMIN_NOT_FOUND:
    case 'STORE_NOT_FOUND':
      return 404
    case ControlErrorCode.ADMIN_METHOD_NOT_ALLOWED:
      return 405
    case 'STORE_ALREADY_EXISTS':
      return 409
    case ControlErrorCode.ADMIN_BODY_TOO_LARGE:
      return 413
    case 'STORE_LOCKED':
    case 'STORE_IO_FAILED':
    case 'STORE_NOT_OPEN':
      return 503
    default:
      return 500
  }
}

function tooLarge(maxBytes: number): ControlError {
  return new ControlError(
    ControlErrorCode.ADMIN_BODY_TOO_LARGE,
    `the request body exceeds ${maxBytes} bytes`,
    {
      remediation: 'Send a token request of a few hundred bytes.',
    },
  )
}

function adminError(code: ControlErrorCode, message: string): ControlError {
  return new ControlError(code, message, {
    remediation: 'See docs/CONTROL.md "Admin endpoint" for the routes and their bodies.',
  })
}

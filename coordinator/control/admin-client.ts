/**
 * The client side of the admin endpoint (admin-server.ts), for the CLI: one HTTP request over the
 * coordinator's Unix socket. A socket nobody answers on (no file, or a file left by a coordinator
 * that crashed) is CONTROL_ADMIN_UNAVAILABLE, which tells the CLI to open the store itself; an
 * error answer is thrown with the coordinator's own code, message and remediation.
 */
import { request as httpRequest } from 'node:http'
import { LifeboatError } from '../../protocol/index.js'
import { ControlError, ControlErrorCode } from './errors.js'
import { type IssuedToken, isIssuedToken, type TokenRequest } from './token-issue.js'

/** The longest wait for an answer; issuing a token is one store write. */
export const ADMIN_CLIENT_TIMEOUT_MS = 15_000
/** Largest answer read; an issued token is under 1 KiB. */
const MAX_ANSWER_BYTES = 1024 * 1024

export interface AdminAnswer {
  status: number
  body: unknown
}

export interface AdminRequestInit {
  method: string
  path: string
  /** Sent as is (the caller encodes JSON), so tests can send bodies that are not JSON. */
  body?: string
  timeoutMs?: number
}

/** One request; resolves with the status and the parsed JSON answer, whatever the status. */
export function adminRequest(socketPath: string, init: AdminRequestInit): Promise<AdminAnswer> {
  return new Promise<AdminAnswer>((resolve, reject) => {
    const request = httpRequest(
      {
        socketPath,
        method: init.method,
        path: init.path,
        headers: init.body === undefined ? {} : { 'Content-Type': 'application/json' },
        timeout: init.timeoutMs ?? ADMIN_CLIENT_TIMEOUT_MS,
      },
      (response) => {
        const chunks: Buffer[] = []
        let total = 0
        response.on('data', (chunk: Buffer) => {
          total += chunk.length
          if (total > MAX_ANSWER_BYTES)
            response.destroy(badResponse(`an answer over ${MAX_ANSWER_BYTES} bytes`))
          else chunks.push(chunk)
        })
        response.on('error', reject)
        response.on('end', () => {
          try {
            resolve({
              status: response.statusCode ?? 0,
              body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
            })
          } catch (error) {
            reject(badResponse(`an answer that is not JSON (${(error as Error).message})`))
          }
        })
      },
    )
    request.on('timeout', () =>
      request.destroy(badResponse(`no answer within ${init.timeoutMs ?? ADMIN_CLIENT_TIMEOUT_MS} ms`)),
    )
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
        reject(
          new ControlError(ControlErrorCode.ADMIN_UNAVAILABLE, `no coordinator answers on ${socketPath}`, {
            remediation:
              'Start the coordinator on this data directory, or run the command while it is stopped.',
            retryable: true,
            cause: error,
          }),
        )
      } else reject(error)
    })
    request.end(init.body)
  })
}

/** Asks the running coordinator for an enrolment token. */
export async function requestEnrolmentToken(
  socketPath: string,
  token: TokenRequest,
  timeoutMs?: number,
): Promise<IssuedToken> {
  const answer = await adminRequest(socketPath, {
    method: 'POST',
    path: '/v1/tokens',
    body: JSON.stringify(token),
    timeoutMs,
  })
  if (answer.status === 201 && isIssuedToken(answer.body)) return answer.body
  throw errorFromAnswer(answer)
}

/** The coordinator's error answer as a coded error, or CONTROL_ADMIN_BAD_RESPONSE. */
function errorFromAnswer(answer: AdminAnswer): Error {
  const body = answer.body as Record<string, unknown> | null
  if (
    typeof body === 'object' &&
    body !== null &&
    typeof body.code === 'string' &&
    typeof body.message === 'string' &&
    typeof body.remediation === 'string'
  ) {
    return new LifeboatError(body.code, body.message, {
      remediation: body.remediation,
      retryable: body.retryable === true,
    })
  }
  return badResponse(`status ${answer.status} with an answer of an unknown shape`)
}

function badResponse(what: string): ControlError {
  return new ControlError(ControlErrorCode.ADMIN_BAD_RESPONSE, `the admin endpoint sent ${what}`, {
    remediation: 'Check that the coordinator and this command are the same Lifeboat version.',
    retryable: true,
  })
}

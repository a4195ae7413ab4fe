/**
 * How the CLI reports a failure: one line `error CODE: message`, one line with the remediation,
 * to stderr — or one JSON line `{"event":"error",…}` on stdout with `--json` — and the exit code
 * that the error code maps to (cli/exit-codes.ts).
 */
import { toErrorBody } from '../protocol/errors.js'
import { type ExitCode, exitCodeFor } from './exit-codes.js'

export function reportError(error: unknown, json: boolean): ExitCode {
  const body = toErrorBody(error)
  if (json) {
    process.stdout.write(`${JSON.stringify({ event: 'error', ...body })}\n`)
  } else {
    process.stderr.write(`error ${body.code}: ${body.message}\n  ${body.remediation}\n`)
  }
  if (body.code === 'INTERNAL' && error instanceof Error && process.env.LIFEBOAT_DEBUG) {
    process.stderr.write(`${error.stack}\n`)
  }
  return exitCodeFor(body.code)
}

/**
 * The enrolment file: `<data-dir>/enrolment.json`, written once the coordinator accepted this
 * node's token, so later starts connect without a token. It holds the node record the coordinator
 * sent (ENROL_ACCEPTED) and the coordinator's peer id, so a node never presents itself to another
 * coordinator by mistake:
 *
 * ```json
 * {"format":"lifeboat-enrolment","version":1,"coordinator":"12D3KooW…","node":{"nodeId":"12D3KooW…",
 *  "role":"appliance","tenant":"acme","site":"dc1","name":"host-1","enrolledAt":1700000000000}}
 * ```
 *
 * Written crash-safe: a temporary file in the same directory (mode 0600), fsynced, renamed over
 * the old one, and the directory fsynced — a crash leaves the old file or the new one, whole. A
 * file that does not parse, or does not match the schema, is refused rather than overwritten: the
 * operator decides (CONTROL_ENROLMENT_CORRUPT).
 */
import { randomBytes } from 'node:crypto'
import { open, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { type Static, Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { NodeId, NodeRecordSchema } from '../../protocol/index.js'
import { AgentControlError, AgentControlErrorCode } from './errors.js'

export const ENROLMENT_FILE_NAME = 'enrolment.json'
export const ENROLMENT_FILE_FORMAT = 'lifeboat-enrolment'
export const ENROLMENT_FILE_VERSION = 1
/** Owner only, like the identity key next to it. */
export const ENROLMENT_FILE_MODE = 0o600
/** A record is a few hundred bytes; anything far larger is not one. */
const MAX_ENROLMENT_FILE_BYTES = 64 * 1024

export const EnrolmentRecordSchema = Type.Object({
  format: Type.Literal(ENROLMENT_FILE_FORMAT),
  version: Type.Literal(ENROLMENT_FILE_VERSION),
  coordinator: NodeId,
  node: NodeRecordSchema,
})
export type EnrolmentRecord = Static<typeof EnrolmentRecordSchema>

const recordCheck = TypeCompiler.Compile(EnrolmentRecordSchema)

/** The enrolment file of a data directory. */
export function enrolmentFilePath(dataDir: string): string {
  return join(dataDir, ENROLMENT_FILE_NAME)
}

/** The record, or undefined when the node never enrolled (no file). */
export async function readEnrolment(path: string): Promise<EnrolmentRecord | undefined> {
  let text: string
  try {
    const bytes = await readFile(path)
    if (bytes.length > MAX_ENROLMENT_FILE_BYTES) throw corrupt(path, `it is ${bytes.length} bytes long`)
    text = bytes.toString('utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if (error instanceof AgentControlError) throw error
    throw io(`cannot read the enrolment file ${path}`, error)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw corrupt(path, `it is not JSON (${(error as Error).message})`)
  }
  if (!recordCheck.Check(value)) {
    const first = recordCheck.Errors(value).First()
    throw corrupt(path, `${first?.path || 'the record'}: ${first?.message ?? 'does not match the schema'}`)
  }
  return value
}

/** Writes the record crash-safe (see the module comment). */
export async function writeEnrolment(path: string, record: EnrolmentRecord): Promise<void> {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const handle = await open(tmp, 'wx', ENROLMENT_FILE_MODE)
    try {
      await handle.writeFile(`${JSON.stringify(record)}\n`)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(tmp, path)
    const dirHandle = await open(dir, 'r')
    try {
      await dirHandle.sync()
    } finally {
      await dirHandle.close()
    }
  } catch (error) {
    await unlink(tmp).catch(() => undefined)
    throw io(`cannot write the enrolment file ${path}`, error)
  }
}

function corrupt(path: string, why: string): AgentControlError {
  return new AgentControlError(
    AgentControlErrorCode.ENROLMENT_CORRUPT,
    `the enrolment file ${path} is invalid: ${why}`,
    {
      remediation: `Restore ${path} from a backup, or delete it and enrol the node again with a new token.`,
    },
  )
}

function io(message: string, cause: unknown): AgentControlError {
  const detail = cause instanceof Error ? `: ${cause.message}` : ''
  return new AgentControlError(AgentControlErrorCode.ENROLMENT_IO, `${message}${detail}`, {
    remediation: 'Check that the data directory exists, is writable by the Lifeboat user and has free space.',
    retryable: true,
    cause,
  })
}

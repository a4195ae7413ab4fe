/**
 * Errors of the block link (docs/PROTOCOL.md §4 "Block stream", §9): the connector's block-data
 * listener and the appliance's block client. The *block link* is the connection an appliance
 * dials to a connector to send one volume's blocks per stream; the coordinator is never on it.
 *
 * Refusals by the peer are not raised here: they arrive as ERROR frames and are thrown as the
 * RemoteError they carry, with the peer's own code. Every code is listed in docs/ERRORS.md
 * "Block link".
 */
import { LifeboatError } from '../../protocol/index.js'

export const BlockLinkErrorCode = {
  /** The connector cannot store blocks yet (no chunk store): every OPEN_VOLUME is refused. */
  NOT_SUPPORTED: 'AGENT_BLOCKS_NOT_SUPPORTED',
  /** A block-link option is out of range: a listen address on an appliance, a bad multiaddr. */
  INVALID_OPTION: 'AGENT_BLOCKS_INVALID_OPTION',
  /** The peer's HELLO names another node than the key its connection was made with. */
  NODE_ID_MISMATCH: 'AGENT_BLOCKS_NODE_ID_MISMATCH',
  /** The peer sent no HELLO within the deadline. */
  HELLO_TIMEOUT: 'AGENT_BLOCKS_HELLO_TIMEOUT',
  /** The peer closed the block stream without answering. */
  NO_ANSWER: 'AGENT_BLOCKS_NO_ANSWER',
  /** The connector sent no answer to a request within the appliance's answer deadline. */
  ANSWER_TIMEOUT: 'AGENT_BLOCKS_ANSWER_TIMEOUT',
  /** OPEN_VOLUME's base recovery point is of another volume or another block size. */
  BASE_MISMATCH: 'AGENT_BLOCKS_BASE_MISMATCH',
  /** A BLOCK_BATCH whose seq is not the previous batch's + 1 (the first is 1). */
  BATCH_OUT_OF_ORDER: 'AGENT_BLOCKS_BATCH_OUT_OF_ORDER',
  /** A BLOCK_BATCH beyond MAX_UNACKED_BATCHES batches not yet acknowledged. */
  TOO_MANY_UNACKED: 'AGENT_BLOCKS_TOO_MANY_UNACKED',
  /** A HELD record names a digest the connector does not hold for the tenant. */
  NOT_HELD: 'AGENT_BLOCKS_NOT_HELD',
  /** A batch of this stream was refused, so the volume cannot commit: later batches and COMMIT are refused. */
  VOLUME_INCOMPLETE: 'AGENT_BLOCKS_VOLUME_INCOMPLETE',
  /** COMMIT's summary disagrees with what the connector received (counts, last seq, map digest). */
  COMMIT_MISMATCH: 'AGENT_BLOCKS_COMMIT_MISMATCH',
  /** The appliance was given a record it cannot send (out of order, past the end, no payload). */
  INVALID_RECORD: 'AGENT_BLOCKS_INVALID_RECORD',
} as const

export type BlockLinkErrorCode = (typeof BlockLinkErrorCode)[keyof typeof BlockLinkErrorCode]

export interface BlockLinkErrorInit {
  remediation: string
  retryable?: boolean
  cause?: unknown
}

export class BlockLinkError extends LifeboatError {
  declare readonly code: BlockLinkErrorCode

  constructor(code: BlockLinkErrorCode, message: string, init: BlockLinkErrorInit) {
    super(code, message, init)
    this.name = 'BlockLinkError'
  }
}

export function invalidBlockOption(name: string, detail: string, remediation?: string): BlockLinkError {
  return new BlockLinkError(BlockLinkErrorCode.INVALID_OPTION, `${name} ${detail}`, {
    remediation: remediation ?? `Fix ${name}; docs/TRANSPORT.md "Block-data listener" lists the rules.`,
  })
}

/** The refusal a connector without a chunk store gives every OPEN_VOLUME: visible, never faked. */
export function blocksNotSupported(): BlockLinkError {
  return new BlockLinkError(BlockLinkErrorCode.NOT_SUPPORTED, 'this connector cannot store blocks yet', {
    remediation: 'Upgrade the connector to a Lifeboat version with a chunk store.',
    retryable: false,
  })
}

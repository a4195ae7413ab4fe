/**
 * Enrolling this node: one conversation with the coordinator's enrolment listener
 * (`/lifeboat/enrol/1.0.0`, docs/CONTROL.md "Enrolment"). The node dials the *enrolment address*,
 * says HELLO with its role, checks the coordinator's HELLO, presents its one-time token in ENROL,
 * and gets back its node record (ENROL_ACCEPTED) or the coordinator's refusal (an ERROR, thrown as
 * the RemoteError it carries: ENROL_TOKEN_INVALID, ENROL_TOKEN_USED, ENROL_TOKEN_EXPIRED,
 * ENROL_ROLE_MISMATCH, …). Either way the connection is closed afterwards: the control connection
 * is dialled separately, and libp2p would otherwise hand this one back for it.
 */
import { multiaddr } from '@multiformats/multiaddr'
import {
  CONTROL_PROTOCOL_VERSION,
  checkHello,
  errorFromFrame,
  MAX_TOKEN_LENGTH,
  MessageType,
  MIN_TOKEN_LENGTH,
  type NodeRecord,
  UnexpectedMessageError,
} from '../../protocol/index.js'
/** The enrolment listener's protocol (coordinator/control/options.ts names the same). */
import { ENROL_PROTOCOL_ID } from '../../protocol/protocol-ids.js'
import { type LifeboatNode, openStreamOn } from '../../transport/index.js'
import { ControlChannel } from '../../transport/message-channel.js'
import { AgentControlError, AgentControlErrorCode, invalidOption } from './errors.js'

export { ENROL_PROTOCOL_ID }
/** The whole enrolment (dial, hellos, token check, answer) must finish within this. */
export const DEFAULT_ENROL_TIMEOUT_MS = 30_000
/** The wire's token alphabet (docs/PROTOCOL.md §8 ENROL). */
const TOKEN_PATTERN = /^[A-Za-z0-9._~+/=-]+$/

export type EnrolRole = 'appliance' | 'connector'

export interface EnrolInit {
  /** The enrolment listener's multiaddr, ending in /p2p/<coordinator id>. */
  address: string
  token: string
  role: EnrolRole
  /** The node's name for people (its host name), at most 255 characters. */
  name?: string
  software: string
  /** Default DEFAULT_ENROL_TIMEOUT_MS. */
  timeoutMs?: number
  signal?: AbortSignal
}

/** Enrols `node` and returns its node record as the coordinator accepted it. */
export async function enrolWithCoordinator(node: LifeboatNode, init: EnrolInit): Promise<NodeRecord> {
  const address = parseAddress(init.address)
  const token = init.token
  if (
    typeof token !== 'string' ||
    token.length < MIN_TOKEN_LENGTH ||
    token.length > MAX_TOKEN_LENGTH ||
    !TOKEN_PATTERN.test(token)
  ) {
    throw invalidOption('token', 'is not an enrolment token (lbt_ and 43 more characters)')
  }
  const timeout = AbortSignal.timeout(init.timeoutMs ?? DEFAULT_ENROL_TIMEOUT_MS)
  const signal = init.signal === undefined ? timeout : AbortSignal.any([init.signal, timeout])
  const connection = await node.dial(address, { signal })
  try {
    const channel = new ControlChannel(await openStreamOn(connection, ENROL_PROTOCOL_ID, { signal }))
    try {
      await channel.send(
        {
          t: MessageType.HELLO,
          protocol: { ...CONTROL_PROTOCOL_VERSION },
          nodeId: node.peerId.toString(),
          role: init.role,
          software: init.software,
        },
        signal,
      )
      const hello = await channel.receiveHello(signal)
      if (hello === undefined) throw noAnswer('closed the enrolment stream before its hello')
      try {
        checkHello(hello, CONTROL_PROTOCOL_VERSION, { roles: ['coordinator'] })
      } catch (error) {
        await channel.fail(error)
        throw error
      }
      await channel.send(
        { t: MessageType.ENROL, rid: 1, token, ...(init.name === undefined ? {} : { name: init.name }) },
        signal,
      )
      for (;;) {
        const answer = await channel.receive(signal)
        if (answer === undefined) throw noAnswer('closed the enrolment stream without answering')
        if (answer.t === MessageType.ERROR) throw errorFromFrame(answer)
        if (answer.t === MessageType.ENROL_ACCEPTED && answer.rid === 1) {
          if (answer.node.nodeId !== node.peerId.toString() || answer.node.role !== init.role) {
            throw noAnswer(`accepted another node (${answer.node.nodeId}, ${answer.node.role})`)
          }
          return answer.node
        }
        await channel.refuse(
          new UnexpectedMessageError(answer.t, 'on an enrolment stream', { reType: answer.t }),
        )
      }
    } finally {
      if (!channel.ended) await channel.close()
    }
  } finally {
    await connection.close().catch(() => connection.abort(new Error('enrolment over')))
  }
}

function parseAddress(address: string): ReturnType<typeof multiaddr> {
  let parsed: ReturnType<typeof multiaddr>
  try {
    parsed = multiaddr(address)
  } catch {
    throw invalidOption('enrolAddress', `${JSON.stringify(address)} is not a multiaddr`)
  }
  if (parsed.getComponents().every((c) => c.name !== 'p2p')) {
    throw invalidOption('enrolAddress', `${address} must end in /p2p/<coordinator id>`)
  }
  return parsed
}

function noAnswer(what: string): AgentControlError {
  return new AgentControlError(AgentControlErrorCode.NO_ANSWER, `the coordinator ${what}`, {
    remediation: 'Check that the enrolment address is the coordinator’s enrolment listener, then retry.',
    retryable: true,
  })
}

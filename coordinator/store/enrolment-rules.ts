/**
 * The rules of redeeming an enrolment token, as one pure function every backend calls between reading
 * the token and the node and writing them back, so that all backends refuse the same redemptions with
 * the same codes in the same order.
 *
 * A *redemption* is the pair of records a successful redeem writes: the token, now used by the node,
 * and the node, new or re-enrolled. *Re-enrolment* is a node that is already enrolled in the token's
 * site with the token's role presenting a fresh token (its disk was restored, its agent reinstalled
 * with the same key): it keeps its record, with a new `enrolledAt`.
 *
 * Error messages go back to the node, which is not trusted yet: they never name another tenant, site
 * or node.
 */
import { EnrolmentError, EnrolmentErrorCode } from './errors.js'
import type { EnrolmentToken, Node, NodeRole, Timestamp } from './metadata-store.js'

export interface Redemption {
  token: EnrolmentToken
  node: Node
}

/**
 * Checks, in this order: the token exists (ENROL_TOKEN_INVALID), is unused (ENROL_TOKEN_USED), has
 * not expired (`now < expiresAt`, else ENROL_TOKEN_EXPIRED), is for `role`, and the node is not
 * enrolled with another role (ENROL_ROLE_MISMATCH) nor in another tenant or site
 * (ENROL_NODE_ENROLLED_ELSEWHERE). Returns the records to write; writes nothing itself.
 */
export function planRedemption(
  token: EnrolmentToken | undefined,
  existing: Node | undefined,
  nodeId: string,
  role: NodeRole,
  now: Timestamp,
): Redemption {
  if (token === undefined) {
    throw new EnrolmentError(EnrolmentErrorCode.TOKEN_INVALID, 'the enrolment token is not valid', {
      remediation:
        'Check that the whole token was copied; ask the operator for a new token if it still fails.',
    })
  }
  if (token.usedAt !== undefined) {
    throw new EnrolmentError(EnrolmentErrorCode.TOKEN_USED, 'the enrolment token has already been used', {
      remediation: 'Tokens are single-use: ask the operator to issue a new enrolment token for this node.',
    })
  }
  if (now >= token.expiresAt) {
    throw new EnrolmentError(EnrolmentErrorCode.TOKEN_EXPIRED, 'the enrolment token has expired', {
      remediation: 'Ask the operator to issue a new enrolment token and enrol before it expires.',
    })
  }
  if (role !== token.role) {
    throw new EnrolmentError(
      EnrolmentErrorCode.ROLE_MISMATCH,
      `the enrolment token is for a ${token.role}, but this node asked to enrol as a ${role}`,
      { remediation: `Start the node as a ${token.role}, or ask for a token issued for a ${role}.` },
    )
  }
  if (existing !== undefined && existing.role !== role) {
    throw new EnrolmentError(
      EnrolmentErrorCode.ROLE_MISMATCH,
      `this node is already enrolled as a ${existing.role} and cannot enrol as a ${role}`,
      {
        remediation:
          'A node keeps its role: give the other role its own node (its own identity key), or remove this node first.',
      },
    )
  }
  if (existing !== undefined && (existing.tenantId !== token.tenantId || existing.siteId !== token.siteId)) {
    throw new EnrolmentError(
      EnrolmentErrorCode.NODE_ENROLLED_ELSEWHERE,
      'this node is already enrolled in another site',
      {
        remediation:
          'A node belongs to one site: use a new identity key for this site, or remove the node from its current site first.',
      },
    )
  }
  const used: EnrolmentToken = { ...token, usedAt: now, usedByNode: nodeId }
  const node: Node =
    existing === undefined
      ? {
          id: nodeId,
          tenantId: token.tenantId,
          siteId: token.siteId,
          role,
          enrolledAt: now,
          status: 'offline',
          statusChangedAt: now,
        }
      : { ...existing, enrolledAt: now }
  return { token: used, node }
}

/**
 * Issuing an enrolment token for the operator: the request (a tenant, a site, a role and a
 * lifetime), its schema, and the issue itself, which creates the tenant and the site when they do
 * not exist yet and says so. Both paths of `lifeboat coordinator token create` end here: through
 * the running coordinator's admin socket (admin-server.ts), or on the store directly when no
 * coordinator holds it.
 *
 * The answer carries the token's *secret* — shown once, never stored — and the token's record
 * fields. Its schema is checked by the admin client too, so a CLI never prints half an answer.
 */
import { type Static, Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { StoreErrorCode } from '../store/errors.js'
import {
  DEFAULT_ENROLMENT_TOKEN_TTL_MS,
  MAX_ENROLMENT_TOKEN_TTL_MS,
  MAX_ID_LENGTH,
  type MetadataStore,
  MIN_ENROLMENT_TOKEN_TTL_MS,
  type NodeRole,
} from '../store/metadata-store.js'
import { ControlError, ControlErrorCode } from './errors.js'

const StoreId = Type.String({
  minLength: 1,
  maxLength: MAX_ID_LENGTH,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
})
const Role = Type.Union([Type.Literal('appliance'), Type.Literal('connector')])

export const TokenRequestSchema = Type.Object(
  {
    tenant: StoreId,
    site: StoreId,
    role: Role,
    ttlMs: Type.Optional(
      Type.Integer({ minimum: MIN_ENROLMENT_TOKEN_TTL_MS, maximum: MAX_ENROLMENT_TOKEN_TTL_MS }),
    ),
  },
  { additionalProperties: false },
)
export type TokenRequest = Static<typeof TokenRequestSchema>

export const IssuedTokenSchema = Type.Object({
  token: Type.String({ minLength: 1 }),
  tokenId: StoreId,
  tenant: StoreId,
  site: StoreId,
  role: Role,
  createdAt: Type.Integer({ minimum: 0 }),
  expiresAt: Type.Integer({ minimum: 0 }),
  createdTenant: Type.Boolean(),
  createdSite: Type.Boolean(),
})
export type IssuedToken = Static<typeof IssuedTokenSchema>

const requestCheck = TypeCompiler.Compile(TokenRequestSchema)
const answerCheck = TypeCompiler.Compile(IssuedTokenSchema)

/** The value as a token request, or CONTROL_ADMIN_BAD_REQUEST naming the first bad field. */
export function parseTokenRequest(value: unknown): TokenRequest {
  if (requestCheck.Check(value)) return value
  const first = requestCheck.Errors(value).First()
  const where = first === undefined || first.path === '' ? 'the body' : first.path
  throw new ControlError(
    ControlErrorCode.ADMIN_BAD_REQUEST,
    `invalid token request: ${where}: ${first?.message ?? 'does not match the schema'}`,
    {
      remediation: `Send {"tenant": id, "site": id, "role": "appliance"|"connector", "ttlMs"?: ${MIN_ENROLMENT_TOKEN_TTL_MS}-${MAX_ENROLMENT_TOKEN_TTL_MS}}; ids are letters, digits, '.', '_' and '-'.`,
    },
  )
}

/** True when `value` is a whole answer of the admin endpoint. */
export function isIssuedToken(value: unknown): value is IssuedToken {
  return answerCheck.Check(value)
}

/**
 * Issues a one-time token for `request.role` in `request.site` of `request.tenant`, creating the
 * tenant and the site (named after their ids) when they do not exist.
 */
export async function issueEnrolmentToken(
  store: Pick<
    MetadataStore,
    'getTenant' | 'createTenant' | 'getSite' | 'createSite' | 'createEnrolmentToken'
  >,
  request: TokenRequest,
  now: number,
): Promise<IssuedToken> {
  const { tenant, site, role } = parseTokenRequest(request)
  let createdTenant = false
  if ((await store.getTenant(tenant)) === undefined) {
    createdTenant = await created(store.createTenant({ id: tenant, name: tenant }, now))
  }
  let createdSite = false
  if ((await store.getSite(tenant, site)) === undefined) {
    createdSite = await created(store.createSite(tenant, { id: site, name: site }, now))
  }
  const issued = await store.createEnrolmentToken(
    tenant,
    site,
    role as NodeRole,
    request.ttlMs ?? DEFAULT_ENROLMENT_TOKEN_TTL_MS,
    now,
  )
  return {
    token: issued.token,
    tokenId: issued.record.id,
    tenant,
    site,
    role,
    createdAt: issued.record.createdAt,
    expiresAt: issued.record.expiresAt,
    createdTenant,
    createdSite,
  }
}

/** True when the creation happened; false when another request created the same record first. */
async function created(creation: Promise<unknown>): Promise<boolean> {
  try {
    await creation
    return true
  } catch (error) {
    if ((error as { code?: unknown }).code === StoreErrorCode.ALREADY_EXISTS) return false
    throw error
  }
}

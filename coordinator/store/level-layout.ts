/**
 * The key layout of the classic-level store's schema-1 records (docs/STORE.md "Keys of schema
 * version 1"), the codecs of their values, and the helpers the schema-2 layouts build on
 * (level-protection-layout.ts, level-job-layout.ts): tenant prefixes, ranges, the record codec.
 *
 * A *key* is a UTF-8 string built from *sublevel prefixes* `!<name>!`, the same bytes abstract-level
 * writes for `db.sublevel(name)`; a tenant's records sit under the nested prefix `!t!!<tenantId>!`,
 * which is `db.sublevel(['t', tenantId])`. Keys are built here by hand rather than through sublevel
 * objects, because a sublevel object made per call attaches itself to the database until closed.
 * Ids never hold `!` or `"` (store-input.ts), and every id character sorts above `"`, so the *range*
 * of a prefix `P` is `[P, P with its final '!' replaced by '"')` and holds exactly the keys under P.
 *
 * A *value* is the JSON text of one record. Every value read is parsed and checked against its
 * schema; anything else is STORE_CORRUPT naming the key.
 */
import { type TSchema, Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { corrupt } from './errors.js'
import type { EnrolmentToken, Node, Site, Tenant } from './metadata-store.js'

/** Marks the schema record, so that a LevelDB written by something else is never taken for ours. */
export const STORE_FORMAT = 'lifeboat-coordinator-store'

export const SCHEMA_KEY = '!meta!schema'
export const TENANTS_PREFIX = '!tenants!'
export const NODE_DIRECTORY_PREFIX = '!nodes!'
export const TOKEN_HASH_PREFIX = '!token-hashes!'

export const tenantKey = (tenantId: string): string => TENANTS_PREFIX + tenantId
export const nodeDirectoryKey = (nodeId: string): string => NODE_DIRECTORY_PREFIX + nodeId
export const tokenHashKey = (secretHash: string): string => TOKEN_HASH_PREFIX + secretHash

export const tenantPrefix = (tenantId: string): string => `!t!!${tenantId}!`
export const sitePrefix = (tenantId: string): string => `${tenantPrefix(tenantId)}!site!`
export const nodePrefix = (tenantId: string): string => `${tenantPrefix(tenantId)}!node!`
export const tokenPrefix = (tenantId: string): string => `${tenantPrefix(tenantId)}!token!`
export const siteKey = (tenantId: string, siteId: string): string => sitePrefix(tenantId) + siteId
export const nodeKey = (tenantId: string, nodeId: string): string => nodePrefix(tenantId) + nodeId
export const tokenKey = (tenantId: string, tokenId: string): string => tokenPrefix(tenantId) + tokenId

/** The iterator bounds of every key under `prefix` (which ends in the separator `!`). */
export function prefixRange(prefix: string): { gte: string; lt: string } {
  return { gte: prefix, lt: `${prefix.slice(0, -1)}"` }
}

export const Id = Type.String({ minLength: 1 })
export const Time = Type.Integer({ minimum: 0 })
export const Role = Type.Union([Type.Literal('appliance'), Type.Literal('connector')])

const SchemaRecord = Type.Object({
  format: Type.Literal(STORE_FORMAT),
  version: Type.Integer({ minimum: 1 }),
})
const TenantRecord = Type.Object({ id: Id, name: Type.String(), createdAt: Time })
const SiteRecord = Type.Object({ tenantId: Id, id: Id, name: Type.String(), createdAt: Time })
const NodeRecord = Type.Object({
  id: Id,
  tenantId: Id,
  siteId: Id,
  role: Role,
  enrolledAt: Time,
  lastSeenAt: Type.Optional(Time),
  status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
  statusChangedAt: Time,
  softwareVersion: Type.Optional(Type.String()),
})
const TokenRecord = Type.Object({
  id: Id,
  tenantId: Id,
  siteId: Id,
  role: Role,
  createdAt: Time,
  expiresAt: Time,
  usedAt: Type.Optional(Time),
  usedByNode: Type.Optional(Id),
  secretHash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
})
const NodeDirectoryEntry = Type.Object({ tenantId: Id })
const TokenHashEntry = Type.Object({ tenantId: Id, tokenId: Id })

/** The schema record under SCHEMA_KEY. */
export interface SchemaRecord {
  format: typeof STORE_FORMAT
  version: number
}
/** A token as stored: the contract's record plus the hash that finds it. */
export interface StoredToken extends EnrolmentToken {
  secretHash: string
}
export interface NodeDirectoryEntry {
  tenantId: string
}
export interface TokenHashEntry {
  tenantId: string
  tokenId: string
}

/** A parser of one record kind: JSON text in, a checked record out, STORE_CORRUPT otherwise. */
export type RecordCodec<T> = (key: string, raw: string) => T

export function codec<T>(schema: TSchema): RecordCodec<T> {
  const check = TypeCompiler.Compile(schema)
  return (key, raw) => {
    let value: unknown
    try {
      value = JSON.parse(raw)
    } catch (cause) {
      throw corrupt(`the value of ${key} is not JSON`, cause)
    }
    if (!check.Check(value)) {
      const first = check.Errors(value).First()
      const detail = first === undefined ? '' : ` (${first.path || '/'}: ${first.message})`
      throw corrupt(`the value of ${key} is not a valid record${detail}`)
    }
    return value as T
  }
}

export const decodeSchema = codec<SchemaRecord>(SchemaRecord)
export const decodeTenant = codec<Tenant>(TenantRecord)
export const decodeSite = codec<Site>(SiteRecord)
export const decodeNode = codec<Node>(NodeRecord)
export const decodeToken = codec<StoredToken>(TokenRecord)
export const decodeNodeDirectoryEntry = codec<NodeDirectoryEntry>(NodeDirectoryEntry)
export const decodeTokenHashEntry = codec<TokenHashEntry>(TokenHashEntry)

/** JSON text of a record. Optional fields that are undefined are left out, as JSON does. */
export function encodeRecord(record: object): string {
  return JSON.stringify(record)
}

/** The contract's token record: the stored one without its secret hash. */
export function publicToken(stored: StoredToken): EnrolmentToken {
  const { secretHash: _hash, ...token } = stored
  return token
}

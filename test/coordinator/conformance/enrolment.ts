// Conformance: issuing enrolment tokens and redeeming them, every ENROL_* refusal, and the race.
import { describe, expect, it } from 'vitest'
import {
  MAX_ENROLMENT_TOKEN_TTL_MS,
  MIN_ENROLMENT_TOKEN_TTL_MS,
} from '../../../coordinator/store/metadata-store.js'
import {
  expectCode,
  freshStore,
  MINUTE,
  peerId,
  type StoreFixtureFactory,
  T0,
  tenantWithSite,
} from './fixture.js'
import { BAD_IDS, BAD_TIMES } from './tenants-and-sites.js'

const SECRET_SHAPE = /^lbt_[A-Za-z0-9_-]{43}$/

export function enrolmentConformance(factory: StoreFixtureFactory): void {
  describe('enrolment tokens', () => {
    const ctx = freshStore(factory)

    it('issues a single-use token whose secret is returned once and never part of the record', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const issued = await ctx.store.createEnrolmentToken('acme', 'hq', 'connector', 10 * MINUTE, T0)
      expect(issued.token).toMatch(SECRET_SHAPE)
      expect(issued.record).toEqual({
        id: issued.record.id,
        tenantId: 'acme',
        siteId: 'hq',
        role: 'connector',
        createdAt: T0,
        expiresAt: T0 + 10 * MINUTE,
      })
      expect(issued.record.id).toMatch(/^[0-9a-f]{32}$/)
      const stored = await ctx.store.getEnrolmentToken('acme', issued.record.id)
      expect(stored).toEqual(issued.record)
      expect(JSON.stringify(await ctx.store.listEnrolmentTokens('acme'))).not.toContain(issued.token.slice(4))
      const other = await ctx.store.createEnrolmentToken('acme', 'hq', 'connector', 10 * MINUTE, T0)
      expect(other.token).not.toBe(issued.token)
    })

    it('lists a tenant’s tokens, optionally of one site', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      await ctx.store.createSite('acme', { id: 'dr', name: 'DR' }, T0)
      const a = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      const b = await ctx.store.createEnrolmentToken('acme', 'dr', 'connector', MINUTE, T0)
      const byId = (x: { id: string }, y: { id: string }) => (x.id < y.id ? -1 : 1)
      expect(await ctx.store.listEnrolmentTokens('acme')).toEqual([a.record, b.record].sort(byId))
      expect(await ctx.store.listEnrolmentTokens('acme', 'dr')).toEqual([b.record])
      expect(await ctx.store.listEnrolmentTokens('acme', 'none')).toEqual([])
      expect(await ctx.store.getEnrolmentToken('acme', 'f'.repeat(32))).toBeUndefined()
    })

    it('refuses tokens for unknown tenants or sites, bad roles, TTLs and times, and writes nothing', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      await expectCode(
        ctx.store.createEnrolmentToken('nobody', 'hq', 'appliance', MINUTE, T0),
        'STORE_NOT_FOUND',
      )
      await expectCode(
        ctx.store.createEnrolmentToken('acme', 'nowhere', 'appliance', MINUTE, T0),
        'STORE_NOT_FOUND',
      )
      for (const role of ['', 'Appliance', 'coordinator', 1, null]) {
        await expectCode(
          ctx.store.createEnrolmentToken('acme', 'hq', role as 'appliance', MINUTE, T0),
          'STORE_INVALID_ARGUMENT',
        )
      }
      const badTtls = [
        0,
        MIN_ENROLMENT_TOKEN_TTL_MS - 1,
        MAX_ENROLMENT_TOKEN_TTL_MS + 1,
        1500.5,
        Number.NaN,
        '60000',
      ]
      for (const ttl of badTtls) {
        await expectCode(
          ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', ttl as number, T0),
          'STORE_INVALID_ARGUMENT',
        )
      }
      for (const now of BAD_TIMES) {
        await expectCode(
          ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, now as number),
          'STORE_INVALID_ARGUMENT',
        )
      }
      for (const bad of BAD_IDS) {
        const id = bad as string
        await expectCode(
          ctx.store.createEnrolmentToken(id, 'hq', 'appliance', MINUTE, T0),
          'STORE_INVALID_ID',
        )
        await expectCode(
          ctx.store.createEnrolmentToken('acme', id, 'appliance', MINUTE, T0),
          'STORE_INVALID_ID',
        )
        await expectCode(ctx.store.getEnrolmentToken('acme', id), 'STORE_INVALID_ID')
        await expectCode(ctx.store.listEnrolmentTokens(id), 'STORE_INVALID_ID')
        await expectCode(ctx.store.listEnrolmentTokens('acme', id), 'STORE_INVALID_ID')
      }
      expect(await ctx.store.listEnrolmentTokens('acme')).toEqual([])
      await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MIN_ENROLMENT_TOKEN_TTL_MS, T0)
      await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MAX_ENROLMENT_TOKEN_TTL_MS, T0)
      expect(await ctx.store.listEnrolmentTokens('acme')).toHaveLength(2)
    })

    it('redeeming marks the token used by the node and creates the node, offline', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const { token, record } = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      const node = await ctx.store.redeemEnrolmentToken(token, peerId(1), 'appliance', T0 + 5)
      expect(node).toEqual({
        id: peerId(1),
        tenantId: 'acme',
        siteId: 'hq',
        role: 'appliance',
        enrolledAt: T0 + 5,
        status: 'offline',
        statusChangedAt: T0 + 5,
      })
      expect(await ctx.store.getEnrolmentToken('acme', record.id)).toEqual({
        ...record,
        usedAt: T0 + 5,
        usedByNode: peerId(1),
      })
      expect(await ctx.store.findNode(peerId(1))).toEqual(node)
      expect(await ctx.store.getNode('acme', peerId(1))).toEqual(node)
      expect(await ctx.store.listNodes('acme')).toEqual([node])
    })

    it('refuses unknown, forged and malformed secrets (ENROL_TOKEN_INVALID) and writes nothing', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const { token } = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      const last = token.at(-1) === 'A' ? 'B' : 'A'
      const forged = [
        `${token.slice(0, -1)}${last}`,
        `lbt_${'A'.repeat(43)}`,
        token.slice(0, -1),
        `${token}A`,
        token.replace('lbt_', 'lbx_'),
        token.slice(4),
        '',
        `lbt_${'!'.repeat(43)}`,
        42,
        null,
      ]
      for (const secret of forged) {
        await expectCode(
          ctx.store.redeemEnrolmentToken(secret as string, peerId(1), 'appliance', T0),
          'ENROL_TOKEN_INVALID',
        )
      }
      expect(await ctx.store.findNode(peerId(1))).toBeUndefined()
      await ctx.store.redeemEnrolmentToken(token, peerId(1), 'appliance', T0)
    })

    it('refuses a used token (ENROL_TOKEN_USED), for another node and for the same one', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const { token } = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      await ctx.store.redeemEnrolmentToken(token, peerId(1), 'appliance', T0)
      await expectCode(
        ctx.store.redeemEnrolmentToken(token, peerId(2), 'appliance', T0 + 1),
        'ENROL_TOKEN_USED',
      )
      await expectCode(
        ctx.store.redeemEnrolmentToken(token, peerId(1), 'appliance', T0 + 1),
        'ENROL_TOKEN_USED',
      )
      expect(await ctx.store.findNode(peerId(2))).toBeUndefined()
      expect(await ctx.store.findNode(peerId(1))).toMatchObject({ enrolledAt: T0 })
    })

    it('a token is valid until one millisecond before expiresAt (ENROL_TOKEN_EXPIRED at expiresAt)', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const a = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      const b = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      await expectCode(
        ctx.store.redeemEnrolmentToken(a.token, peerId(1), 'appliance', T0 + MINUTE),
        'ENROL_TOKEN_EXPIRED',
      )
      await expectCode(
        ctx.store.redeemEnrolmentToken(a.token, peerId(1), 'appliance', T0 + 10 * MINUTE),
        'ENROL_TOKEN_EXPIRED',
      )
      expect(await ctx.store.getEnrolmentToken('acme', a.record.id)).toEqual(a.record)
      const node = await ctx.store.redeemEnrolmentToken(b.token, peerId(1), 'appliance', T0 + MINUTE - 1)
      expect(node.enrolledAt).toBe(T0 + MINUTE - 1)
    })

    it('refuses a role other than the token’s (ENROL_ROLE_MISMATCH) and leaves the token usable', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const { token, record } = await ctx.store.createEnrolmentToken('acme', 'hq', 'connector', MINUTE, T0)
      await expectCode(
        ctx.store.redeemEnrolmentToken(token, peerId(1), 'appliance', T0),
        'ENROL_ROLE_MISMATCH',
      )
      expect(await ctx.store.getEnrolmentToken('acme', record.id)).toEqual(record)
      expect(await ctx.store.findNode(peerId(1))).toBeUndefined()
      expect(await ctx.store.redeemEnrolmentToken(token, peerId(1), 'connector', T0)).toMatchObject({
        role: 'connector',
      })
    })

    it('refuses a node already enrolled with another role (ENROL_ROLE_MISMATCH)', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const first = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      const second = await ctx.store.createEnrolmentToken('acme', 'hq', 'connector', MINUTE, T0)
      await ctx.store.redeemEnrolmentToken(first.token, peerId(1), 'appliance', T0)
      await expectCode(
        ctx.store.redeemEnrolmentToken(second.token, peerId(1), 'connector', T0),
        'ENROL_ROLE_MISMATCH',
      )
      expect(await ctx.store.findNode(peerId(1))).toMatchObject({ role: 'appliance' })
      expect(await ctx.store.getEnrolmentToken('acme', second.record.id)).toEqual(second.record)
    })

    it('refuses a node enrolled in another site or tenant (ENROL_NODE_ENROLLED_ELSEWHERE)', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      await ctx.store.createSite('acme', { id: 'dr', name: 'DR' }, T0)
      await tenantWithSite(ctx.store, 'globex', 'hq')
      const first = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      const otherSite = await ctx.store.createEnrolmentToken('acme', 'dr', 'appliance', MINUTE, T0)
      const otherTenant = await ctx.store.createEnrolmentToken('globex', 'hq', 'appliance', MINUTE, T0)
      await ctx.store.redeemEnrolmentToken(first.token, peerId(1), 'appliance', T0)
      for (const { token } of [otherSite, otherTenant]) {
        await expectCode(
          ctx.store.redeemEnrolmentToken(token, peerId(1), 'appliance', T0 + 1),
          'ENROL_NODE_ENROLLED_ELSEWHERE',
        )
      }
      expect(await ctx.store.findNode(peerId(1))).toMatchObject({ tenantId: 'acme', siteId: 'hq' })
      expect(await ctx.store.listNodes('globex')).toEqual([])
      expect(await ctx.store.getEnrolmentToken('globex', otherTenant.record.id)).toEqual(otherTenant.record)
    })

    it('re-enrols a node in its own site and role with a fresh token, keeping its record', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const first = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      const again = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      await ctx.store.redeemEnrolmentToken(first.token, peerId(1), 'appliance', T0)
      await ctx.store.setNodeStatus(peerId(1), 'online', T0 + 1)
      const node = await ctx.store.redeemEnrolmentToken(again.token, peerId(1), 'appliance', T0 + 2)
      expect(node).toMatchObject({
        enrolledAt: T0 + 2,
        status: 'online',
        statusChangedAt: T0 + 1,
        lastSeenAt: T0 + 1,
      })
      expect(await ctx.store.listNodes('acme')).toEqual([node])
      expect(await ctx.store.getEnrolmentToken('acme', again.record.id)).toMatchObject({
        usedByNode: peerId(1),
      })
    })

    it('checks in order: used before expired, expired before the role', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const used = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      await ctx.store.redeemEnrolmentToken(used.token, peerId(1), 'appliance', T0)
      await expectCode(
        ctx.store.redeemEnrolmentToken(used.token, peerId(2), 'connector', T0 + 2 * MINUTE),
        'ENROL_TOKEN_USED',
      )
      const stale = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      await expectCode(
        ctx.store.redeemEnrolmentToken(stale.token, peerId(1), 'connector', T0 + 2 * MINUTE),
        'ENROL_TOKEN_EXPIRED',
      )
    })

    it('refuses bad node ids, roles and times before looking at the token', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const { token, record } = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      for (const bad of BAD_IDS) {
        await expectCode(
          ctx.store.redeemEnrolmentToken(token, bad as string, 'appliance', T0),
          'STORE_INVALID_ID',
        )
      }
      await expectCode(
        ctx.store.redeemEnrolmentToken(token, peerId(1), 'router' as 'appliance', T0),
        'STORE_INVALID_ARGUMENT',
      )
      for (const now of BAD_TIMES) {
        await expectCode(
          ctx.store.redeemEnrolmentToken(token, peerId(1), 'appliance', now as number),
          'STORE_INVALID_ARGUMENT',
        )
      }
      expect(await ctx.store.getEnrolmentToken('acme', record.id)).toEqual(record)
    })

    it('of many concurrent redemptions of one token exactly one succeeds', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const { token, record } = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      const ids = Array.from({ length: 8 }, (_, n) => peerId(100 + n))
      const outcomes = await Promise.allSettled(
        ids.map((id) => ctx.store.redeemEnrolmentToken(token, id, 'appliance', T0 + 1)),
      )
      const won = outcomes.flatMap((o, n) => (o.status === 'fulfilled' ? [ids[n]!] : []))
      expect(won).toHaveLength(1)
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') expect(outcome.reason).toMatchObject({ code: 'ENROL_TOKEN_USED' })
      }
      expect((await ctx.store.listNodes('acme')).map((n) => n.id)).toEqual(won)
      expect(await ctx.store.getEnrolmentToken('acme', record.id)).toMatchObject({ usedByNode: won[0] })
    })

    it('of concurrent redemptions by one node of two tokens for different roles one succeeds', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const a = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
      const c = await ctx.store.createEnrolmentToken('acme', 'hq', 'connector', MINUTE, T0)
      const outcomes = await Promise.allSettled([
        ctx.store.redeemEnrolmentToken(a.token, peerId(1), 'appliance', T0),
        ctx.store.redeemEnrolmentToken(c.token, peerId(1), 'connector', T0),
      ])
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1)
      const rejected = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult
      expect(rejected.reason).toMatchObject({ code: 'ENROL_ROLE_MISMATCH' })
      const tokens = await ctx.store.listEnrolmentTokens('acme')
      expect(tokens.filter((t) => t.usedAt !== undefined)).toHaveLength(1)
    })
  })
}

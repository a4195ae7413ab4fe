// The admin endpoint on the coordinator's Unix socket: issuing tokens, and refusing bad requests
// with coded JSON errors.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { adminRequest, createAdminServer, requestEnrolmentToken } from '../../coordinator/control/index.js'
import { createMemoryStore } from '../../coordinator/store/memory-store.js'
import { Cleanup, withLimit } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

async function adminOn() {
  const dir = await cleanup.tempDir('lb-admin-')
  const store = createMemoryStore()
  await store.open()
  cleanup.add(() => store.close())
  const socketPath = join(dir, 'admin.sock')
  const server = createAdminServer({ socketPath, maxBodyBytes: 1024 }, { store })
  await server.start()
  cleanup.add(() => server.stop())
  return { store, socketPath, server }
}

describe('the admin endpoint', () => {
  it('issues a token, creating the tenant and site the first time only', async () => {
    const { store, socketPath } = await adminOn()
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600)
    const first = await requestEnrolmentToken(socketPath, {
      tenant: 'acme',
      site: 'dc1',
      role: 'appliance',
      ttlMs: 60_000,
    })
    expect(first).toMatchObject({
      tenant: 'acme',
      site: 'dc1',
      role: 'appliance',
      createdTenant: true,
      createdSite: true,
    })
    expect(first.token).toMatch(/^lbt_[A-Za-z0-9_-]{43}$/)
    expect(first.expiresAt - first.createdAt).toBe(60_000)
    const second = await requestEnrolmentToken(socketPath, { tenant: 'acme', site: 'dc1', role: 'connector' })
    expect(second).toMatchObject({ createdTenant: false, createdSite: false })
    expect(second.expiresAt - second.createdAt).toBe(24 * 3_600_000)
    // The secrets redeem: they are the store's own tokens.
    const node = await store.redeemEnrolmentToken(first.token, 'node1', 'appliance', Date.now())
    expect(node).toMatchObject({ tenantId: 'acme', siteId: 'dc1', role: 'appliance' })
    expect(await store.listEnrolmentTokens('acme')).toHaveLength(2)
  })

  it('answers bad requests with a coded JSON error and creates nothing', async () => {
    const { store, socketPath } = await adminOn()
    const post = (body: string) => adminRequest(socketPath, { method: 'POST', path: '/v1/tokens', body })
    const cases: Array<[string, number, string, RegExp]> = [
      ['{"tenant": ', 400, 'CONTROL_ADMIN_BAD_REQUEST', /not JSON/],
      ['{"tenant":"acme","site":"dc1"}', 400, 'CONTROL_ADMIN_BAD_REQUEST', /role/],
      ['{"tenant":"acme","site":"dc1","role":"coordinator"}', 400, 'CONTROL_ADMIN_BAD_REQUEST', /role/],
      ['{"tenant":"a!b","site":"dc1","role":"appliance"}', 400, 'CONTROL_ADMIN_BAD_REQUEST', /tenant/],
      [
        '{"tenant":"acme","site":"dc1","role":"appliance","ttlMs":10}',
        400,
        'CONTROL_ADMIN_BAD_REQUEST',
        /ttlMs/,
      ],
      [
        '{"tenant":"acme","site":"dc1","role":"appliance","extra":1}',
        400,
        'CONTROL_ADMIN_BAD_REQUEST',
        /extra|propert/,
      ],
      [
        JSON.stringify({ tenant: 'acme', site: 'dc1', role: 'appliance', pad: 'x'.repeat(2_000) }),
        413,
        'CONTROL_ADMIN_BODY_TOO_LARGE',
        /1024/,
      ],
    ]
    for (const [body, status, code, message] of cases) {
      const answer = await post(body)
      expect(answer.status, body.slice(0, 60)).toBe(status)
      expect(answer.body).toMatchObject({ code, retryable: false })
      const error = answer.body as { message: string; remediation: string }
      expect(error.message).toMatch(message)
      expect(error.remediation.length).toBeGreaterThan(0)
    }
    expect(await adminRequest(socketPath, { method: 'POST', path: '/v1/nothing', body: '{}' })).toMatchObject(
      {
        status: 404,
        body: { code: 'CONTROL_ADMIN_NOT_FOUND' },
      },
    )
    expect(await adminRequest(socketPath, { method: 'GET', path: '/v1/tokens' })).toMatchObject({
      status: 405,
      body: { code: 'CONTROL_ADMIN_METHOD_NOT_ALLOWED' },
    })
    expect(await store.listTenants()).toEqual([])
    // The client throws the coordinator's coded error as it came.
    await expect(
      requestEnrolmentToken(socketPath, { tenant: 'acme', site: 'dc1', role: 'x' } as never),
    ).rejects.toMatchObject({ code: 'CONTROL_ADMIN_BAD_REQUEST' })
  })

  it('replaces a stale socket, removes its socket on stop, and is unavailable once stopped', async () => {
    const { socketPath, server } = await adminOn()
    await server.stop()
    await expect(stat(socketPath)).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(
      requestEnrolmentToken(socketPath, { tenant: 'acme', site: 'dc1', role: 'appliance' }),
    ).rejects.toMatchObject({ code: 'CONTROL_ADMIN_UNAVAILABLE', retryable: true })
    // A socket file left by a process killed while it listened is replaced.
    const holder = spawn(
      process.execPath,
      ['-e', "require('net').createServer().listen(process.argv[1], () => console.log('up'))", socketPath],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    cleanup.add(() => holder.kill('SIGKILL'))
    await withLimit(once(holder.stdout!, 'data'), 'socket holder up')
    holder.kill('SIGKILL')
    await withLimit(once(holder, 'exit'), 'socket holder killed')
    expect((await stat(socketPath)).isSocket()).toBe(true)
    await server.start()
    expect(
      await requestEnrolmentToken(socketPath, { tenant: 'acme', site: 'dc1', role: 'appliance' }),
    ).toMatchObject({
      tenant: 'acme',
    })
    await server.stop()
    // A regular file in its place is not touched.
    await writeFile(socketPath, 'not a socket')
    await expect(server.start()).rejects.toMatchObject({ code: 'CONTROL_INVALID_OPTION' })
    expect(() =>
      createAdminServer({ socketPath: `/tmp/${'x'.repeat(120)}` }, { store: createMemoryStore() }),
    ).toThrow(/longer than 103 bytes/)
  })
})

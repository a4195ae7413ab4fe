/**
 * A small world for the schema-2 conformance parts: a tenant with a source site `hq` (two
 * appliances) and a target site `dr` (one connector), two protected VMs at hq (vm-1 with disk-0 and
 * disk-1, vm-2 with disk-2) and an enabled replication plan `rpo` covering both. Node ids are
 * distinct per tenant (`base`), since a node id is unique across tenants.
 */
import { expect } from 'vitest'
import type { NewJob } from '../../../coordinator/jobs/job.js'
import type { MetadataStore } from '../../../coordinator/store/metadata-store.js'
import type { NewPlan, NewProtectedVm } from '../../../coordinator/store/protection-records.js'
import { expectCode, MINUTE, peerId, T0, tenantWithSite } from './fixture.js'

export interface World {
  tenantId: string
  appliances: [string, string]
  connector: string
}

export const VM_1: NewProtectedVm = {
  id: 'vm-1',
  name: 'Web server',
  siteId: 'hq',
  volumes: [
    { id: 'disk-0', size: 64 * 1024 * 1024, blockSize: 65_536 },
    { id: 'disk-1', size: 16 * 1024 * 1024, blockSize: 4_096 },
  ],
}

export const VM_2: NewProtectedVm = {
  id: 'vm-2',
  name: 'Database',
  siteId: 'hq',
  volumes: [{ id: 'disk-2', size: 128 * 1024 * 1024, blockSize: 65_536 }],
}

export const RPO_PLAN: NewPlan = {
  id: 'rpo',
  name: 'One-minute RPO',
  groups: [{ name: 'databases', vmIds: ['vm-2'] }, { vmIds: ['vm-1'] }],
  schedule: { kind: 'interval', everyMs: MINUTE },
  job: { type: 'replication-cycle' },
  retention: { count: 24, maxAgeMs: 24 * 60 * MINUTE, preservedTags: ['quarter-end'] },
  sourceSiteId: 'hq',
  targetSiteId: 'dr',
  enabled: true,
}

async function enrol(
  store: MetadataStore,
  tenantId: string,
  siteId: string,
  nodeId: string,
  role: 'appliance' | 'connector',
) {
  const { token } = await store.createEnrolmentToken(tenantId, siteId, role, MINUTE, T0)
  await store.redeemEnrolmentToken(token, nodeId, role, T0)
}

export async function makeWorld(store: MetadataStore, tenantId = 'acme', base = 0): Promise<World> {
  await tenantWithSite(store, tenantId, 'hq')
  await store.createSite(tenantId, { id: 'dr', name: 'Recovery site' }, T0)
  const world: World = {
    tenantId,
    appliances: [peerId(base + 1), peerId(base + 2)],
    connector: peerId(base + 3),
  }
  await enrol(store, tenantId, 'hq', world.appliances[0], 'appliance')
  await enrol(store, tenantId, 'hq', world.appliances[1], 'appliance')
  await enrol(store, tenantId, 'dr', world.connector, 'connector')
  await store.createProtectedVm(tenantId, VM_1, T0)
  await store.createProtectedVm(tenantId, VM_2, T0)
  await store.createPlan(tenantId, RPO_PLAN, T0)
  return world
}

/** A replication cycle of `vmId` under plan `rpo`. */
export function cycle(id: string, vmId = 'vm-1', extra: Partial<NewJob> = {}): NewJob {
  return { id, type: 'replication-cycle', planId: 'rpo', vmId, siteId: 'hq', role: 'appliance', ...extra }
}

/** A consistency check at the target site, for jobs that are not replication cycles. */
export function check(id: string, vmId = 'vm-1', extra: Partial<NewJob> = {}): NewJob {
  return { id, type: 'consistency-check', vmId, siteId: 'dr', role: 'connector', ...extra }
}

/** An error body a node might report. */
export function nodeError(retryable: boolean, code = 'AGENT_READ_FAILED') {
  return {
    code,
    message: 'reading the volume failed',
    remediation: 'Check the datastore is reachable from the appliance.',
    retryable,
  }
}

/** Offers the job to `nodeId` at `now` and acknowledges it at once: the job runs; its lease id. */
export async function startJob(
  store: MetadataStore,
  tenantId: string,
  jobId: string,
  nodeId: string,
  now: number,
): Promise<string> {
  const offered = await store.offerJob(tenantId, jobId, nodeId, now)
  await store.acknowledgeJob(tenantId, jobId, nodeId, offered.lease!.id, now)
  return offered.lease!.id
}

/** Everything a refused job change must leave as it was. */
async function snapshot(store: MetadataStore, world: World, jobId: string) {
  const nodes = [...world.appliances, world.connector]
  return {
    job: await store.getJob(world.tenantId, jobId),
    queue: await store.nextQueuedJobs(Number.MAX_SAFE_INTEGER - 1, 1000),
    jobs: await store.listJobs(world.tenantId, {}, { limit: 1000 }),
    fences: await Promise.all(
      ['disk-0', 'disk-1', 'disk-2'].map((v) => store.fencingToken(world.tenantId, v)),
    ),
    nodeLoad: await Promise.all(nodes.map((n) => store.activeJobsByNode(n))),
  }
}

/** Checks that `call` is refused with `code` and changes nothing about the job, the queue or the fences. */
export async function refusedUnchanged(
  store: MetadataStore,
  world: World,
  jobId: string,
  call: () => Promise<unknown>,
  code: string,
): Promise<void> {
  const before = await snapshot(store, world, jobId)
  await expectCode(call(), code)
  expect(await snapshot(store, world, jobId)).toEqual(before)
}

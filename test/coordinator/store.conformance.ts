/**
 * The conformance suite every MetadataStore backend passes: call `storeConformance` from a backend's
 * test file with a factory of fixtures (conformance/fixture.ts). One part per behaviour.
 */
import { catalogueConformance } from './conformance/catalogue.js'
import { enrolmentConformance } from './conformance/enrolment.js'
import type { StoreFixtureFactory } from './conformance/fixture.js'
import { isolationConformance } from './conformance/isolation.js'
import { isolationV2Conformance } from './conformance/isolation-v2.js'
import { jobLogConformance } from './conformance/job-log.js'
import { jobsEnqueueConformance } from './conformance/jobs-enqueue.js'
import { jobsExpiryConformance } from './conformance/jobs-expiry.js'
import { jobsLeaseConformance } from './conformance/jobs-lease.js'
import { jobsOfferConformance } from './conformance/jobs-offer.js'
import { jobsPruneConformance } from './conformance/jobs-prune.js'
import { jobsQueriesConformance } from './conformance/jobs-queries.js'
import { lifecycleConformance } from './conformance/lifecycle.js'
import { migrationConformance } from './conformance/migration.js'
import { nodesConformance } from './conformance/nodes.js'
import { plansConformance } from './conformance/plans.js'
import { protectedVmsConformance } from './conformance/protected-vms.js'
import { tenantsAndSitesConformance } from './conformance/tenants-and-sites.js'

export type { StoreFixture, StoreFixtureFactory } from './conformance/fixture.js'

export function storeConformance(factory: StoreFixtureFactory): void {
  lifecycleConformance(factory)
  tenantsAndSitesConformance(factory)
  enrolmentConformance(factory)
  nodesConformance(factory)
  isolationConformance(factory)
  // Schema version 2.
  protectedVmsConformance(factory)
  plansConformance(factory)
  catalogueConformance(factory)
  jobLogConformance(factory)
  jobsEnqueueConformance(factory)
  jobsOfferConformance(factory)
  jobsLeaseConformance(factory)
  jobsExpiryConformance(factory)
  jobsQueriesConformance(factory)
  jobsPruneConformance(factory)
  isolationV2Conformance(factory)
  migrationConformance(factory)
}

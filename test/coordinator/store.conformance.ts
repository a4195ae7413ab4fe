/**
 * The conformance suite every MetadataStore backend passes: call `storeConformance` from a backend's
 * test file with a factory of fixtures (conformance/fixture.ts). One part per behaviour.
 */
import { enrolmentConformance } from './conformance/enrolment.js'
import type { StoreFixtureFactory } from './conformance/fixture.js'
import { isolationConformance } from './conformance/isolation.js'
import { lifecycleConformance } from './conformance/lifecycle.js'
import { nodesConformance } from './conformance/nodes.js'
import { tenantsAndSitesConformance } from './conformance/tenants-and-sites.js'

export type { StoreFixture, StoreFixtureFactory } from './conformance/fixture.js'

export function storeConformance(factory: StoreFixtureFactory): void {
  lifecycleConformance(factory)
  tenantsAndSitesConformance(factory)
  enrolmentConformance(factory)
  nodesConformance(factory)
  isolationConformance(factory)
}

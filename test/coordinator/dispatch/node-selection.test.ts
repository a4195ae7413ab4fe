// Node selection: eligibility filters with their reasons, and load ordering (active jobs, CPU band,
// least recently offered).
import { describe, expect, it } from 'vitest'
import type { DispatchNode } from '../../../coordinator/dispatch/dispatch-ports.js'
import {
  DEFAULT_SELECTION_RULES,
  type JobPlacement,
  type NodeSelection,
  selectNode,
} from '../../../coordinator/dispatch/node-selection.js'
import { OfferLedger } from '../../../coordinator/dispatch/offer-ledger.js'

const NOW = 1_000_000
const job: JobPlacement = { tenantId: 't1', siteId: 's1', role: 'appliance' }

function node(
  nodeId: string,
  change: Partial<DispatchNode> = {},
  load: Partial<NonNullable<DispatchNode['load']>> = {},
) {
  return {
    nodeId,
    tenantId: 't1',
    siteId: 's1',
    role: 'appliance',
    online: true,
    load: { activeJobs: 0, cpu: 0.2, receivedAt: NOW - 1_000, intervalMs: 5_000, ...load },
    ...change,
  } satisfies DispatchNode
}

function chosen(selection: NodeSelection): string {
  if (!selection.ok) throw new Error(selection.error.message)
  return selection.node.nodeId
}

function refused(selection: NodeSelection) {
  if (selection.ok) throw new Error(`chose ${selection.node.nodeId}`)
  return selection
}

describe('node selection order', () => {
  it('prefers the node with fewer active jobs', () => {
    const nodes = [
      node('busy', {}, { activeJobs: 2, cpu: 0.05 }),
      node('idle', {}, { activeJobs: 0, cpu: 0.6 }),
    ]
    expect(chosen(selectNode(job, nodes, new OfferLedger(), DEFAULT_SELECTION_RULES, NOW))).toBe('idle')
  })

  it('then the node with lower recent CPU', () => {
    const nodes = [node('hot', {}, { cpu: 0.7 }), node('cool', {}, { cpu: 0.3 })]
    expect(chosen(selectNode(job, nodes, new OfferLedger(), DEFAULT_SELECTION_RULES, NOW))).toBe('cool')
  })

  it('treats CPU within one band as equal and takes the least recently offered node', () => {
    const ledger = new OfferLedger()
    ledger.record('a', 'old-job', NOW - 10_000)
    ledger.forget('a', 'old-job')
    const nodes = [node('a', {}, { cpu: 0.31 }), node('b', {}, { cpu: 0.38 })]
    // b's CPU is higher but in the same 0.1 band; a was offered a job more recently.
    expect(chosen(selectNode(job, nodes, ledger, DEFAULT_SELECTION_RULES, NOW))).toBe('b')
  })

  it('shares a burst evenly across two equal nodes, counting offers the reports cannot know yet', () => {
    const ledger = new OfferLedger()
    const nodes = [node('a'), node('b')]
    const counts: Record<string, number> = { a: 0, b: 0 }
    for (let i = 0; i < 10; i++) {
      const id = chosen(selectNode(job, nodes, ledger, DEFAULT_SELECTION_RULES, NOW + i))
      ledger.record(id, `job-${i}`, NOW + i)
      counts[id]++
    }
    expect(counts).toEqual({ a: 5, b: 5 })
  })

  it('adding a second node to a site takes the next job there', () => {
    const ledger = new OfferLedger()
    ledger.record('a', 'j1', NOW - 500)
    const nodes = [node('a', {}, { activeJobs: 1 }), node('b')]
    expect(chosen(selectNode(job, nodes, ledger, DEFAULT_SELECTION_RULES, NOW))).toBe('b')
  })

  it('does not count offers made before the latest report twice', () => {
    const ledger = new OfferLedger()
    ledger.record('a', 'j1', NOW - 2_000) // before a's report at NOW - 1,000: already in activeJobs
    const nodes = [node('a', {}, { activeJobs: 1 }), node('b', {}, { activeJobs: 1, cpu: 0.5 })]
    const selection = selectNode(job, nodes, ledger, DEFAULT_SELECTION_RULES, NOW)
    if (!selection.ok) throw new Error('no node')
    expect(selection.ranked.map((r) => [r.node.nodeId, r.activeJobs])).toEqual([
      ['a', 1],
      ['b', 1],
    ])
  })
})

describe('node eligibility', () => {
  it('skips nodes of another tenant, site or role, offline and excluded nodes, naming each reason', () => {
    const nodes = [
      node('other-tenant', { tenantId: 't2' }),
      node('other-site', { siteId: 's2' }),
      node('connector', { role: 'connector' }),
      node('down', { online: false }),
      node('refused'),
      node('ok', {}, { activeJobs: 3 }),
    ]
    const placement = { ...job, excludedNodes: ['refused'] }
    expect(chosen(selectNode(placement, nodes, new OfferLedger(), DEFAULT_SELECTION_RULES, NOW))).toBe('ok')
    const none = refused(
      selectNode(placement, nodes.slice(0, 5), new OfferLedger(), DEFAULT_SELECTION_RULES, NOW),
    )
    expect(none.removed).toEqual({
      tenant: ['other-tenant'],
      site: ['other-site'],
      role: ['connector'],
      offline: ['down'],
      excluded: ['refused'],
    })
    expect(none.error).toMatchObject({ code: 'DISPATCH_NO_ELIGIBLE_NODE', retryable: true })
    expect(none.error.message).toContain('1 offline (down)')
    expect(none.error.message).toContain('1 excluded (refused)')
    // Another tenant's node is never named to this tenant.
    expect(none.error.message).not.toContain('other-tenant')
  })

  it('skips nodes whose load report is stale or missing', () => {
    const nodes = [
      node('stale', {}, { receivedAt: NOW - 15_001 }),
      node('silent', { load: undefined }),
      node('fresh-enough', {}, { receivedAt: NOW - 15_000, activeJobs: 5 }),
    ]
    expect(chosen(selectNode(job, nodes, new OfferLedger(), DEFAULT_SELECTION_RULES, NOW))).toBe(
      'fresh-enough',
    )
    const none = refused(selectNode(job, nodes.slice(0, 2), new OfferLedger(), DEFAULT_SELECTION_RULES, NOW))
    expect(none.removed).toEqual({ stale: ['stale', 'silent'] })
    expect(none.error.remediation).toMatch(/heartbeat/)
  })

  it('skips overloaded nodes: at our cap, at their own maxJobs, or above the CPU threshold', () => {
    const rules = { ...DEFAULT_SELECTION_RULES, maxActiveJobs: 4, maxCpu: 0.8 }
    const ledger = new OfferLedger()
    ledger.record('filling', 'j9', NOW)
    const nodes = [
      node('at-cap', {}, { activeJobs: 4 }),
      node('own-max', {}, { activeJobs: 2, maxJobs: 2 }),
      node('hot', {}, { cpu: 0.81 }),
      node('filling', {}, { activeJobs: 3 }),
    ]
    const none = refused(selectNode(job, nodes, ledger, rules, NOW))
    expect(none.removed).toEqual({ overloaded: ['at-cap', 'own-max', 'hot', 'filling'] })
    expect(none.error.message).toContain('4 overloaded')
    expect(
      chosen(selectNode(job, [...nodes, node('spare', {}, { activeJobs: 3, cpu: 0.8 })], ledger, rules, NOW)),
    ).toBe('spare')
  })

  it('says so when no node of the role is enrolled in the site', () => {
    const none = refused(
      selectNode(job, [node('c', { role: 'connector' })], new OfferLedger(), DEFAULT_SELECTION_RULES, NOW),
    )
    expect(none.error.message).toBe('no appliance is enrolled in site s1')
    expect(none.error.remediation).toContain('Enrol an appliance in site s1')
  })

  it('can ignore exclusions (the dispatcher does once the grace period is over)', () => {
    const placement = { ...job, excludedNodes: ['only'] }
    const nodes = [node('only')]
    refused(selectNode(placement, nodes, new OfferLedger(), DEFAULT_SELECTION_RULES, NOW))
    expect(
      chosen(
        selectNode(placement, nodes, new OfferLedger(), DEFAULT_SELECTION_RULES, NOW, {
          ignoreExclusions: true,
        }),
      ),
    ).toBe('only')
  })
})

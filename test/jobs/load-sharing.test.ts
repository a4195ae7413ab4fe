// Load sharing's decision (agent/jobs/load-sharing.ts, docs/SCHEDULING.md §10): when this node is
// overloaded and a fresh site peer has room and is clearly idler, the newest job not yet started is
// handed back; otherwise nothing moves.
import { describe, expect, it } from 'vitest'
import type { ControlClientEventMap } from '../../agent/control/events.js'
import { TypedEventBus } from '../../agent/control/events.js'
import type { AgentJobError } from '../../agent/jobs/errors.js'
import type { RunningJob } from '../../agent/jobs/index.js'
import {
  chooseHandBack,
  createLoadSharing,
  type PeerLoad,
  sharingRules,
} from '../../agent/jobs/load-sharing.js'

const NOW = 1_000_000
const rules = sharingRules()

function peer(nodeId: string, activeJobs: number, cpu = 0.1, extra: Partial<PeerLoad> = {}): PeerLoad {
  return {
    nodeId,
    load: { activeJobs, maxJobs: 4, cpu, freeMemory: 0, sendRate: 0, receiveRate: 0, queuedUpdates: 0 },
    intervalMs: 1_000,
    receivedAt: NOW - 100,
    ...extra,
  }
}

function job(jobId: string, acceptedAt: number, started = false): RunningJob {
  return { jobId, leaseId: `lease-${jobId}`, jobType: 'maintenance', acceptedAt, started }
}

const running = [job('old', NOW - 5_000), job('new', NOW - 1_000), job('moving', NOW - 500, true)]

describe('chooseHandBack', () => {
  it('hands back the newest job not started, to the idlest peer with room', () => {
    const choice = chooseHandBack(
      { activeJobs: 3, maxJobs: 2, cpu: 0.5 },
      [peer('p-busy', 1), peer('p-idle', 0), peer('p-full', 0, 0.95)],
      running,
      rules,
      NOW,
    )
    expect(choice).toMatchObject({ job: { jobId: 'new' }, peer: { nodeId: 'p-idle' } })
    expect(choice?.why).toBe('3 jobs running, limit 2')
  })

  it('counts CPU above maxCpu as overload, and a peer with much less CPU as idler', () => {
    const choice = chooseHandBack(
      { activeJobs: 1, maxJobs: 4, cpu: 0.97 },
      [peer('p', 1, 0.3)],
      running,
      rules,
      NOW,
    )
    expect(choice?.why).toBe('CPU 97 %')
    expect(choice?.peer.nodeId).toBe('p')
  })

  it('keeps everything when not overloaded, with no peer clearly idler, or with nothing unstarted', () => {
    expect(
      chooseHandBack({ activeJobs: 2, maxJobs: 2, cpu: 0.5 }, [peer('p', 0)], running, rules, NOW),
    ).toBeUndefined()
    // Overloaded, but the peer runs only one job fewer at about the same CPU: not clearly idler.
    expect(
      chooseHandBack({ activeJobs: 3, maxJobs: 2, cpu: 0.2 }, [peer('p', 2)], running, rules, NOW),
    ).toBeUndefined()
    // A peer at its own limit has no room, however idle its CPU.
    expect(
      chooseHandBack(
        { activeJobs: 5, maxJobs: 2 },
        [peer('p', 1, 0.1, { load: { ...peer('p', 1).load, maxJobs: 1 } })],
        running,
        rules,
        NOW,
      ),
    ).toBeUndefined()
    // A stale report (older than 3 intervals) does not count.
    expect(
      chooseHandBack(
        { activeJobs: 3, maxJobs: 2 },
        [peer('p', 0, 0.1, { receivedAt: NOW - 3_001 })],
        running,
        rules,
        NOW,
      ),
    ).toBeUndefined()
    // Every job has started: nothing is handed back.
    expect(
      chooseHandBack({ activeJobs: 3, maxJobs: 2 }, [peer('p', 0)], [job('a', 1, true)], rules, NOW),
    ).toBeUndefined()
  })

  it('refuses rules out of range', () => {
    expect(() => sharingRules({ maxCpu: 1.5 })).toThrow(/maxCpu/)
    expect(() => sharingRules({ jobGap: 0 })).toThrow(/jobGap/)
    expect(() => sharingRules({ cooldownMs: -1 })).toThrow(/cooldownMs/)
  })
})

describe('createLoadSharing', () => {
  it('acts on SITE_LOAD reports, at most once per cooldown', () => {
    const events = new TypedEventBus<ControlClientEventMap>()
    let now = NOW
    const handedBack: Array<{ jobId: string; code: string }> = []
    const jobs = [job('a', NOW - 10), job('b', NOW - 5), job('c', NOW - 1)]
    const runner = {
      activeJobs: 3,
      maxJobs: 1,
      runningJobs: () => jobs.filter((j) => !handedBack.some((h) => h.jobId === j.jobId)),
      handBack: (jobId: string, reason: AgentJobError) => {
        handedBack.push({ jobId, code: reason.code })
        return true
      },
    }
    const sharing = createLoadSharing(
      { cooldownMs: 1_000 },
      { runner, client: { lastLoad: undefined, events }, now: () => now },
    )
    const report = (activeJobs: number) =>
      events.emit('site-load', {
        nodeId: 'peer',
        role: 'appliance',
        intervalMs: 1_000,
        load: peer('peer', activeJobs).load,
        receivedAt: now,
      })
    report(0)
    expect(handedBack).toEqual([{ jobId: 'c', code: 'AGENT_JOB_REBALANCED' }])
    now += 500
    report(0)
    expect(handedBack).toHaveLength(1)
    now += 600
    report(0)
    expect(handedBack.map((h) => h.jobId)).toEqual(['c', 'b'])
    expect(sharing.handedBack).toBe(2)
    sharing.stop()
    now += 5_000
    report(0)
    expect(sharing.handedBack).toBe(2)
  })
})

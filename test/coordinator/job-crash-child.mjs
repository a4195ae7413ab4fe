// Child process of level-job-crash.test.ts. It opens the compiled classic-level store (dist/, whose
// module URL is its first argument) and walks the jobs of the job file (second argument) through
// their changes in order — enqueue, offer, acknowledge, renew, then complete, fail, or hand back and
// cancel — writing `done <job> <step>` after each change has returned; then it waits to be SIGKILLed.
import { readFileSync } from 'node:fs'

/** Exits on its own if the parent never kills it, so a failed test leaves no process behind. */
const ORPHAN_EXIT_MS = 20_000

const [moduleUrl, jobFile] = process.argv.slice(2)
const { createLevelStore } = await import(moduleUrl)
const plan = JSON.parse(readFileSync(jobFile, 'utf8'))
setTimeout(() => process.exit(3), ORPHAN_EXIT_MS).unref()

const store = createLevelStore({ location: plan.location })
await store.open()
process.stdout.write('open\n')
const failure = {
  code: 'AGENT_READ_FAILED',
  message: 'read failed',
  remediation: 'Check the disk.',
  retryable: false,
}
for (const [n, job] of plan.jobs.entries()) {
  const { tenantId, id, vmId, nodeId, ending } = job
  const now = plan.now + n
  let step = 0
  const done = () => process.stdout.write(`done ${n} ${++step}\n`)
  await store.enqueueJob(
    tenantId,
    { id, type: 'replication-cycle', vmId, siteId: 'hq', role: 'appliance' },
    now,
  )
  done()
  const offered = await store.offerJob(tenantId, id, nodeId, now)
  done()
  const leaseId = offered.lease.id
  await store.acknowledgeJob(tenantId, id, nodeId, leaseId, now)
  done()
  await store.renewLease(tenantId, id, leaseId, now + 1)
  done()
  if (ending === 'complete') {
    await store.completeJob(tenantId, id, leaseId, now + 2, { bytes: n })
    done()
  } else if (ending === 'fail') {
    await store.failJob(tenantId, id, leaseId, now + 2, failure)
    done()
  } else {
    await store.handBackJob(tenantId, id, leaseId, now + 2)
    done()
    await store.cancelJob(tenantId, id, now + 3)
    done()
  }
}
process.stdout.write('finished\n')
// Keep the event loop alive until the parent's SIGKILL (or the orphan timer).
setInterval(() => undefined, 1_000)

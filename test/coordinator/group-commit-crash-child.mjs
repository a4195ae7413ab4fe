// Child process of level-group-commit-crash.test.ts. It opens the compiled classic-level store
// (dist/, whose module URL is its first argument) and walks every job of the job file (second
// argument) at once — each job's changes in order (enqueue, offer, acknowledge, renew, complete) —
// so the changes of different jobs share commit groups. It writes `done <job> <step>` after each
// change has returned; then it waits to be SIGKILLed.
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

async function walk(n, { tenantId, id, vmId, nodeId }) {
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
  await store.completeJob(tenantId, id, leaseId, now + 2, { bytes: n })
  done()
}

await Promise.all(plan.jobs.map((job, n) => walk(n, job)))
process.stdout.write(`finished ${JSON.stringify(store.commitStats())}\n`)
// Keep the event loop alive until the parent's SIGKILL (or the orphan timer).
setInterval(() => undefined, 1_000)

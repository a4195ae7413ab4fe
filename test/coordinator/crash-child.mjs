// Child process of level-crash.test.ts. It opens the compiled classic-level store (dist/, whose
// module URL is its first argument), redeems the tokens listed in the job file (second argument) in
// order, writes `done <n>` after each redemption has returned, then waits to be SIGKILLed.
import { readFileSync } from 'node:fs'

/** Exits on its own if the parent never kills it, so a failed test leaves no process behind. */
const ORPHAN_EXIT_MS = 20_000

const [moduleUrl, jobFile] = process.argv.slice(2)
const { createLevelStore } = await import(moduleUrl)
const job = JSON.parse(readFileSync(jobFile, 'utf8'))
setTimeout(() => process.exit(3), ORPHAN_EXIT_MS).unref()

const store = createLevelStore({ location: job.location })
await store.open()
process.stdout.write('open\n')
for (const [n, { secret, nodeId }] of job.tokens.entries()) {
  await store.redeemEnrolmentToken(secret, nodeId, 'appliance', job.now)
  process.stdout.write(`done ${n}\n`)
}
process.stdout.write('finished\n')
// Keep the event loop alive until the parent's SIGKILL (or the orphan timer).
setInterval(() => undefined, 1_000)

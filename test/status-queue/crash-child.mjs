// Child process of status-queue-crash.test.ts. It opens the compiled status queue (dist/, whose
// module URL is its first argument) in the data directory of its second argument and appends
// updates as fast as it can — progress, log entries, and every fourth a RESULT — acknowledging
// everything below the last RESULT every 25 updates, as a coordinator would. After each append or
// acknowledgement returns it writes `appended <seq>`, `synced <seq>` (a RESULT: fsynced) or
// `acked <seq>`; then it goes on until it is SIGKILLed.
/** Exits on its own if the parent never kills it, so a failed test leaves no process behind. */
const ORPHAN_EXIT_MS = 20_000
/** Updates per run at most: the parent kills long before. */
const MAX_UPDATES = 100_000

const [moduleUrl, dataDir] = process.argv.slice(2)
const { createStatusQueue } = await import(moduleUrl)
setTimeout(() => process.exit(3), ORPHAN_EXIT_MS).unref()

const queue = createStatusQueue({ dataDir })
await queue.open()
process.stdout.write(`open ${queue.stats().lastSeq}\n`)
const at = 1_700_000_000_000
const nodeId = `12D3KooW${'N'.repeat(44)}`
let lastResult = 0
for (let n = 0; n < MAX_UPDATES; n++) {
  const kind = n % 4
  if (kind === 3) {
    const { update } = await queue.append({ t: 24, at, jobId: `job-${n}`, leaseId: 'lease', ok: true })
    lastResult = update.seq
    process.stdout.write(`synced ${update.seq}\n`)
  } else {
    const input =
      kind === 1
        ? { t: 25, at, jobId: 'job', nodeId, step: 'copy', level: 'info', message: `entry ${n}` }
        : { t: 23, at, jobId: 'job', step: 'copy', bytesDone: n, percent: n % 100 }
    const { update } = await queue.append(input)
    process.stdout.write(`appended ${update.seq}\n`)
  }
  if (n % 25 === 24 && lastResult > queue.stats().acknowledgedSeq) {
    await queue.acknowledge(lastResult - 1)
    process.stdout.write(`acked ${lastResult - 1}\n`)
  }
}
await new Promise(() => {})

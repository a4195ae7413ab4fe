#!/usr/bin/env node
/**
 * The `lifeboat` command. Each subcommand lives in its own module; this file only wires them to
 * commander, turns every failure into one clear error line with a remediation (cli/report-error.ts)
 * and exits with the documented code (docs/CLI.md).
 */
import '../protocol/promise-with-resolvers.js'
import { Command, CommanderError, Option } from 'commander'
import { LifeboatError } from '../protocol/errors.js'
import { registerAgentCommand } from './agent-command.js'
import { registerCoordinatorCommand } from './coordinator-command.js'
import { type DemoOptions, runDemo } from './demo-command.js'
import { ExitCode } from './exit-codes.js'
import { reportError } from './report-error.js'
import { registerRestoreCommand } from './restore-command.js'
import { formatScanReport, type ScanCommandOptions, scanImage } from './scan-command.js'

/** Aborted by SIGINT / SIGTERM, so long work stops cleanly (workers destroyed, temp files removed). */
function interruptSignal(): AbortSignal {
  const controller = new AbortController()
  const stop = (name: string) => {
    if (controller.signal.aborted) process.exit(ExitCode.INTERRUPTED)
    controller.abort(
      new LifeboatError('CLI_INTERRUPTED', `interrupted by ${name}`, {
        remediation: 'Run the command again.',
      }),
    )
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
  return controller.signal
}

function wantsJson(argv: readonly string[]): boolean {
  return argv.includes('--json')
}

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('lifeboat')
    .description('Open disaster recovery for virtual machines: block replication, recovery points, failover.')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) })

  let exitCode: number = ExitCode.OK
  const signal = interruptSignal()

  program
    .command('scan')
    .description('hash every block of a disk image, find what changed since a previous index, and report')
    .argument('<image>', 'raw disk image file or block device')
    .option('--index <file>', 'write the new block index to this file')
    .option('--previous <file>', 'the index of the previous scan: report only what changed since')
    .option(
      '--cbt <file>',
      'change-tracking extents (JSON, docs/FORMATS.md): read only those blocks; needs --previous',
    )
    .option(
      '--block-size <size>',
      'block size, a power of two from 4K to 16M (default 64K, or the previous index’s)',
    )
    .option('--hash-only', 'hash only; do not LZ4-compress the changed blocks')
    .option('--workers <n>', 'worker threads (default: one per core)')
    .option('--json', 'print JSON lines (progress, then the result) instead of text')
    .action(async (image: string, options: ScanCommandOptions) => {
      const report = await scanImage(image, options, signal)
      if (options.json === true) process.stdout.write(`${JSON.stringify({ event: 'result', ...report })}\n`)
      else process.stdout.write(`${formatScanReport(report)}\n`)
    })

  program
    .command('demo')
    .description(
      'replicate a disk image end to end on loopback: seed, 3 incremental cycles, check, restore, compare',
    )
    .option('--size <size>', 'size of the ext4 image the demo makes', '256M')
    .option(
      '--image <path>',
      'replicate this existing raw image instead (read only: seed, check, restore, compare)',
    )
    .option('--keep <dir>', 'work in this directory and keep it, instead of a removed temporary one')
    .addOption(new Option('--e2fsprogs-dir <dir>', 'tests: look for e2fsprogs only here').hideHelp())
    .action(async (options: DemoOptions) => {
      await runDemo(options, signal)
    })

  registerRestoreCommand(program, signal)
  registerCoordinatorCommand(program, signal)
  registerAgentCommand(program, signal)

  try {
    await program.parseAsync(argv)
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not failures; commander already printed the usage error itself.
      exitCode = error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE
    } else {
      exitCode = reportError(error, wantsJson(argv))
    }
  }
  return exitCode
}

main(process.argv).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.exitCode = reportError(error, false)
  },
)

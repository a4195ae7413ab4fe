/**
 * The replication benchmark's peer harness (issue 5 §8), for the `bench:replication` runner: the
 * mixed source image, its random 1 % changes and their extents file (the CBT cycle's input), and
 * the rsync daemon peer with its seed and incremental transfers.
 */
export { BenchError, BenchErrorCode } from './bench-errors.js'
export { type BenchImageOptions, REPLICATION_IMAGE_BYTES, writeBenchImage } from './bench-image.js'
export { writeExtentsFile } from './extents-file.js'
export {
  type Extent,
  MUTATION_BLOCK_SIZE,
  type Mutation,
  type MutationOptions,
  mutateRandomBlocks,
} from './random-block-mutation.js'
export { type RsyncDaemon, type RsyncDaemonInit, startRsyncDaemon } from './rsync-daemon.js'
export {
  RSYNC_BLOCK_SIZE,
  type RsyncTransfer,
  type RsyncTransferOptions,
  rsyncIncremental,
  rsyncSeed,
  sameBytes,
} from './rsync-transfer.js'

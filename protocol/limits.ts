/**
 * Every bound of the wire protocol, as named in docs/PROTOCOL.md §10 "Limits" and listed in
 * docs/LIMITS.md ("Transport and protocol"). A *frame* is a 4-byte length prefix and a body; the
 * limits on frame sizes apply to the body. Changing a value that a peer relies on (a maximum a
 * receiver enforces) is a protocol change: a larger maximum needs a new minor version and is only
 * used once both hellos announce it.
 */

const KiB = 1024
const MiB = 1024 * KiB

/** §2: the length prefix, an unsigned 32-bit big-endian integer. */
export const FRAME_HEADER_SIZE = 4

/** §2: largest body of a frame on a `/lifeboat/control/1.0.0` stream. */
export const MAX_CONTROL_FRAME_SIZE = 1 * MiB

/** §2: largest body of a frame on a `/lifeboat/blocks/1.0.0` stream: a full batch plus its record fields. */
export const MAX_DATA_FRAME_SIZE = 17 * MiB

/** §3: maps and arrays nest at most this deep in a body; deeper bodies are malformed. */
export const MAX_NESTING_DEPTH = 8

/** §9: records per BLOCK_BATCH (16 MiB of 4 KiB blocks). */
export const MAX_BATCH_RECORDS = 4096

/** §9: payload bytes per BLOCK_BATCH. */
export const MAX_BATCH_PAYLOAD_BYTES = 16 * MiB

/** §9: digests per HAVE_QUERY (2 MiB of digests). */
export const MAX_HAVE_DIGESTS = 65_536

/** §9: the same range as blockio/block-source.ts, which protocol/ may not import. */
export const MIN_BLOCK_SIZE = 4 * KiB
export const MAX_BLOCK_SIZE = 16 * MiB

/** §9: 64 TiB, beyond any virtual disk a supported hypervisor creates (VMware: 62 TB). */
export const MAX_VOLUME_SIZE = 2 ** 46

/** §4: BLOCK_BATCH frames an appliance may have sent and not yet seen acknowledged. */
export const MAX_UNACKED_BATCHES = 4

/** §4: unanswered requests per stream and direction. */
export const MAX_PENDING_REQUESTS = 16

/** §8: items per STATUS_REPLAY (the 1 MiB frame limit may cut a batch shorter). */
export const MAX_REPLAY_ITEMS = 256

/** §4: status updates a node keeps for replay while the coordinator is away. */
export const MAX_QUEUED_STATUS_UPDATES = 10_000

/** §6: recoverable errors in a row after which a receiver closes the stream. */
export const MAX_CONSECUTIVE_BAD_FRAMES = 16

/** §3.2: `id` and `nodeId` strings. */
export const MAX_ID_LENGTH = 128
export const MAX_NODE_ID_LENGTH = 128

/** §3.2: error codes. */
export const MAX_ERROR_CODE_LENGTH = 64

/** §3.2: error messages, remediation hints and log messages. */
export const MAX_TEXT_LENGTH = 4096

/** §8: a job step's name. */
export const MAX_STEP_LENGTH = 128

/** §7: software version string in a hello. */
export const MAX_SOFTWARE_LENGTH = 64

/** §8: a node's display name. */
export const MAX_NAME_LENGTH = 255

/** §8: the one-time enrolment token. */
export const MIN_TOKEN_LENGTH = 16
export const MAX_TOKEN_LENGTH = 512

/** §8: JOB_OFFER `ackDeadlineMs` (the orchestration default is 60 s). */
export const MIN_ACK_DEADLINE_MS = 1000
export const MAX_ACK_DEADLINE_MS = 10 * 60_000

/** §8: JOB_OFFER and LEASE_RENEWED `leaseTtlMs`. */
export const MIN_LEASE_TTL_MS = 1000
export const MAX_LEASE_TTL_MS = 60 * 60_000

/** §8: HEARTBEAT `intervalMs`. */
export const MAX_HEARTBEAT_INTERVAL_MS = 60 * 60_000

/** §8: jobs a node reports (`activeJobs`, `maxJobs`). */
export const MAX_REPORTED_JOBS = 10_000

/** §8: JOB_OFFER `attempt`. */
export const MAX_ATTEMPT = 10_000

/** §8: volumes per job payload. */
export const MAX_JOB_VOLUMES = 64

/** §8: VMs per failover step. */
export const MAX_STEP_VMS = 1024

/** §8: boot groups per failover. */
export const MAX_BOOT_GROUP = 1000

/** §8: connector addresses in a replication payload, and the length of each. */
export const MAX_CONNECTOR_ADDRS = 16
export const MAX_ADDR_LENGTH = 512

/** §8: recovery points a prune maintenance payload names (control 1.1). */
export const MAX_PRUNE_POINTS = 4096

/** §8: a volume's source locator (path, device, driver URI). */
export const MAX_SOURCE_LENGTH = 1024

/** §8: entries in `params` and `summary` maps, their key and string value lengths. */
export const MAX_PARAMS_ENTRIES = 64
export const MAX_PARAMS_KEY_LENGTH = 64
export const MAX_PARAMS_VALUE_LENGTH = 1024

/** §3.2: `major` and `minor` of a version. */
export const MAX_VERSION_PART = 65_535

/** §3.2: BLAKE3 digests. */
export const DIGEST_LENGTH = 32

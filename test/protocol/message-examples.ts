/**
 * One fixed example of every v1 message (and of the variants that matter: each job type, accepted
 * and declined acks, success and failure results). The golden fixtures in
 * test/fixtures/protocol/v1/ were written from these; the round-trip tests use them directly.
 *
 * The block-stream examples describe one consistent volume: 4 blocks of 4 KiB, the last one 100
 * bytes long. Block 0 is LZ4 (lz4-napi compressSync of 'lifeboat block 7 ' repeated), block 1 is
 * zero, block 2 is held by the connector, block 3 is raw. Digests are BLAKE3 of the plaintexts, and
 * the commit's map digest is BLAKE3 of the four digests (32 zero bytes for the zero block).
 */
import type { ControlMessage, DataMessage, MessageFamily } from '../../protocol/index.js'

export interface Example {
  name: string
  family: MessageFamily
  message: ControlMessage | DataMessage
}

export const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'))

const NODE = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'
const CONNECTOR = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'
const COORDINATOR = '12D3KooWSBTB1jzXPyBQZUBWnYjjF1CjAd1hc6FQtCNZ4GsHGEgj'
const AT = 1_767_225_600_000
const BLOCK_0_LZ4 = hex(
  '00100000ff026c696665626f617420626c6f636b2037201100ffffffffffffffffffffffffffffffe5606c6f636b2037',
)
const DIGEST_0 = hex('dcdbe8a3dcaaece5ce12a5ff0be74c8d40eae12fe2d89ac6b80d4813bfa35121')
const DIGEST_HELD = hex('54c21f4b35a347d1fada2be0607538e002ad002fcd32bb50fe82c40671287a8d')
const BLOCK_3_RAW = hex(
  '0b30557a9fc4e90e33587da2c7ec11365b80a5caef14395e83a8cdf2173c6186abd0f51a3f6489aed3f81d42678cb1d6' +
    'fb20456a8fb4d9fe23486d92b7dc01264b7095badf04294e7398bde2072c51769bc0e50a2f54799ec3e80d32577ca1c6eb10355a',
)
const DIGEST_3 = hex('cb4cdb9a9b7af0a7810fa70767aba774b717327355da0f743973cd94d7e564b5')
const MAP_DIGEST = hex('ab4dda3922ce088a94016df8729922ce198f9417b501b26bdcff5104bc18ed63')

const overloaded = {
  code: 'AGENT_OVERLOADED',
  message: 'node runs 8 of 8 jobs',
  remediation: 'Add a node to the site or raise its job limit.',
  retryable: true,
}

const progress = {
  t: 23,
  seq: 41,
  at: AT + 1000,
  jobId: 'job-7f3a',
  step: 'send volume disk-0',
  bytesDone: 5_368_709_120,
  bytesTotal: 21_474_836_480,
  percent: 25,
} as const

const logEntry = {
  t: 25,
  seq: 42,
  at: AT + 1500,
  jobId: 'job-7f3a',
  nodeId: NODE,
  step: 'send volume disk-0',
  level: 'warn',
  message: 'connector answered slowly; retrying batch 118',
  bytesDone: 5_368_709_120,
  error: {
    code: 'TRANSPORT_TIMEOUT',
    message: 'no answer within 30 s',
    remediation: 'Check the link between the appliance and the connector.',
    retryable: true,
  },
} as const

const control: [string, ControlMessage][] = [
  [
    'hello',
    {
      t: 1,
      protocol: { major: 1, minor: 0 },
      nodeId: NODE,
      role: 'appliance',
      site: 'dc-east',
      software: 'lifeboat/0.1.0',
    },
  ],
  [
    'hello-connector-addrs',
    {
      t: 1,
      protocol: { major: 1, minor: 1 },
      nodeId: NODE,
      role: 'connector',
      site: 'cloud-west',
      software: 'lifeboat/0.2.0',
      addrs: [`/ip4/203.0.113.7/tcp/7410/p2p/${NODE}`],
    },
  ],
  [
    'hello-coordinator',
    {
      t: 1,
      protocol: { major: 1, minor: 0 },
      nodeId: COORDINATOR,
      role: 'coordinator',
      software: 'lifeboat/0.1.0',
    },
  ],
  [
    'error',
    {
      t: 2,
      code: 'COORD_LEASE_LOST',
      message: 'lease lease-19 of job job-7f3a expired',
      remediation: 'Stop the job; the coordinator has given it to another node.',
      retryable: false,
      reType: 21,
      reId: 7,
    },
  ],
  ['enrol', { t: 16, rid: 1, token: 'lbt_enrol_5Qm2x8Vd0rKj7pLw', name: 'appliance-01.dc-east' }],
  [
    'enrol-accepted',
    {
      t: 17,
      rid: 1,
      node: {
        nodeId: NODE,
        role: 'appliance',
        tenant: 'acme',
        site: 'dc-east',
        name: 'appliance-01.dc-east',
        enrolledAt: AT,
      },
    },
  ],
  [
    'heartbeat',
    {
      t: 18,
      at: AT,
      intervalMs: 10_000,
      load: {
        activeJobs: 2,
        maxJobs: 8,
        cpu: 0.42,
        freeMemory: 6_442_450_944,
        sendRate: 390_000_000,
        receiveRate: 120_000,
        queuedUpdates: 0,
      },
    },
  ],
  [
    'site-load',
    {
      t: 29,
      nodeId: NODE,
      role: 'appliance',
      intervalMs: 5_000,
      load: {
        activeJobs: 1,
        maxJobs: 4,
        cpu: 0.25,
        freeMemory: 8_589_934_592,
        sendRate: 1_000_000,
        receiveRate: 20_000,
        queuedUpdates: 3,
      },
    },
  ],
  [
    'job-offer-replication-cycle',
    {
      t: 19,
      rid: 3,
      jobId: 'job-7f3a',
      jobType: 'replication-cycle',
      leaseId: 'lease-19',
      fencingToken: 1207,
      ackDeadlineMs: 60_000,
      leaseTtlMs: 30_000,
      attempt: 1,
      payload: {
        tenant: 'acme',
        planId: 'plan-erp',
        vmId: 'vm-1042',
        volumes: [
          {
            volumeId: 'disk-0',
            source: '/vmfs/volumes/ds1/erp/erp-flat.vmdk',
            size: 21_474_836_480,
            blockSize: 65_536,
            baseRecoveryPointId: 'rp-0099',
          },
          {
            volumeId: 'disk-1',
            source: '/vmfs/volumes/ds1/erp/erp_1-flat.vmdk',
            size: 107_374_182_400,
            blockSize: 65_536,
          },
        ],
        connector: { nodeId: CONNECTOR, addrs: ['/ip4/203.0.113.7/tcp/4001'] },
      },
    },
  ],
  [
    'job-offer-consistency-check',
    {
      t: 19,
      rid: 4,
      jobId: 'job-81c0',
      jobType: 'consistency-check',
      leaseId: 'lease-20',
      fencingToken: 1208,
      ackDeadlineMs: 60_000,
      leaseTtlMs: 120_000,
      attempt: 2,
      payload: {
        tenant: 'acme',
        vmId: 'vm-1042',
        volumes: [{ volumeId: 'disk-0', recoveryPointId: 'rp-0100' }],
        sample: 0.1,
      },
    },
  ],
  [
    'job-offer-failover-step',
    {
      t: 19,
      rid: 5,
      jobId: 'job-9d14',
      jobType: 'failover-step',
      leaseId: 'lease-21',
      fencingToken: 1209,
      ackDeadlineMs: 60_000,
      leaseTtlMs: 300_000,
      attempt: 1,
      payload: {
        tenant: 'acme',
        failoverId: 'fo-0003',
        planId: 'plan-erp',
        mode: 'drill',
        step: 'boot-group',
        group: 1,
        vmIds: ['vm-1042', 'vm-1043'],
        recoveryPointId: 'rp-0100',
        params: { healthCheck: 'tcp:443', timeoutSeconds: 600, isolateNetwork: true },
      },
    },
  ],
  [
    'job-offer-maintenance',
    {
      t: 19,
      rid: 6,
      jobId: 'job-a2e7',
      jobType: 'maintenance',
      leaseId: 'lease-22',
      fencingToken: 1210,
      ackDeadlineMs: 60_000,
      leaseTtlMs: 600_000,
      attempt: 1,
      payload: { task: 'prune', tenant: 'acme', params: { keepDays: 30 } },
    },
  ],
  [
    'job-offer-prune-points',
    {
      t: 19,
      rid: 8,
      jobId: 'job-a2e8',
      jobType: 'maintenance',
      leaseId: 'lease-23',
      fencingToken: 1211,
      ackDeadlineMs: 60_000,
      leaseTtlMs: 600_000,
      attempt: 1,
      payload: { task: 'prune', tenant: 'acme', points: ['job-7f3a.disk-0', 'job-7f3b.disk-0'] },
    },
  ],
  ['job-ack-accepted', { t: 20, rid: 3, jobId: 'job-7f3a', leaseId: 'lease-19', accepted: true }],
  [
    'job-ack-declined',
    { t: 20, rid: 4, jobId: 'job-81c0', leaseId: 'lease-20', accepted: false, reason: overloaded },
  ],
  ['lease-renewal', { t: 21, rid: 7, jobId: 'job-7f3a', leaseId: 'lease-19', fencingToken: 1207 }],
  ['lease-renewed', { t: 22, rid: 7, jobId: 'job-7f3a', leaseId: 'lease-19', leaseTtlMs: 30_000 }],
  ['progress', progress],
  [
    'result-success',
    {
      t: 24,
      seq: 57,
      at: AT + 90_000,
      jobId: 'job-7f3a',
      leaseId: 'lease-19',
      ok: true,
      summary: { 'disk-0': 'rp-0101', 'disk-1': 'rp-0102', bytesSent: 1_288_490_188, ratio: 2.04 },
    },
  ],
  [
    'result-failure',
    {
      t: 24,
      seq: 58,
      at: AT + 91_000,
      jobId: 'job-81c0',
      leaseId: 'lease-20',
      ok: false,
      error: {
        code: 'AGENT_DIGEST_MISMATCH',
        message: 'block 4711 of disk-0 does not match its recorded digest',
        remediation: 'Run a replication cycle to repair the recovery point, then check again.',
        retryable: false,
      },
    },
  ],
  ['log-entry', logEntry],
  [
    'job-handback',
    { t: 28, seq: 60, at: AT + 95_000, jobId: 'job-9d14', leaseId: 'lease-21', reason: overloaded },
  ],
  ['status-replay', { t: 26, rid: 9, items: [progress, logEntry] }],
  ['status-ack', { t: 27, rid: 9, seq: 42 }],
]

const blocks: [string, DataMessage][] = [
  [
    'hello-connector',
    {
      t: 1,
      protocol: { major: 1, minor: 0 },
      nodeId: CONNECTOR,
      role: 'connector',
      site: 'cloud-west',
      software: 'lifeboat/0.1.0',
    },
  ],
  [
    'open-volume',
    {
      t: 64,
      rid: 1,
      tenant: 'acme',
      vmId: 'vm-1042',
      volumeId: 'disk-0',
      jobId: 'job-7f3a',
      fencingToken: 1207,
      blockSize: 4096,
      volumeSize: 12_388,
      blockCount: 4,
      baseRecoveryPointId: 'rp-0099',
    },
  ],
  ['volume-opened', { t: 65, rid: 1, volumeId: 'disk-0' }],
  ['have-query', { t: 66, rid: 2, digests: new Uint8Array([...DIGEST_0, ...DIGEST_HELD, ...DIGEST_3]) }],
  ['have-answer', { t: 67, rid: 2, count: 3, held: new Uint8Array([0b010]) }],
  [
    'block-batch',
    {
      t: 68,
      seq: 1,
      records: [
        { index: 0, digest: DIGEST_0, flags: 0x00, payload: BLOCK_0_LZ4 },
        { index: 1, digest: new Uint8Array(32), flags: 0x01, payload: new Uint8Array(0) },
        { index: 2, digest: DIGEST_HELD, flags: 0x08, payload: new Uint8Array(0) },
        { index: 3, digest: DIGEST_3, flags: 0x02, payload: BLOCK_3_RAW },
      ],
    },
  ],
  ['batch-ack', { t: 69, seq: 1, stored: 4 }],
  [
    'commit',
    {
      t: 70,
      rid: 3,
      jobId: 'job-7f3a',
      summary: { blockCount: 4, mapDigest: MAP_DIGEST, lastSeq: 1, records: 4, payloadBytes: 148 },
    },
  ],
  ['committed', { t: 71, rid: 3, volumeId: 'disk-0', recoveryPointId: 'rp-0101' }],
  [
    'abort',
    {
      t: 72,
      jobId: 'job-7f3a',
      reason: {
        code: 'AGENT_SOURCE_CHANGED',
        message: 'disk-0 shrank during the cycle',
        remediation: 'Run the cycle again.',
        retryable: true,
      },
    },
  ],
  [
    'error-refusing-batch',
    {
      t: 2,
      code: 'PROTOCOL_VOLUME_MISMATCH',
      message: "block batch does not fit the open volume: record 0 (block 9) is past the volume's 4 blocks",
      remediation: 'Send only blocks of the volume named in OPEN_VOLUME, with payloads of their length.',
      retryable: false,
      reType: 68,
      reId: 2,
    },
  ],
]

export const examples: readonly Example[] = [
  ...control.map(([name, message]) => ({ name, family: 'control' as const, message })),
  ...blocks.map(([name, message]) => ({ name, family: 'blocks' as const, message })),
]

/** The raw plaintext of block 3 and the text block 0 compresses, for checks of the examples. */
export const exampleBlocks = { block0Text: 'lifeboat block 7 ', block0Length: 4096, block3: BLOCK_3_RAW }

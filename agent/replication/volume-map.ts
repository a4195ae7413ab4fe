/**
 * The appliance's *volume map*: which local file or block device holds each volume it replicates
 * (docs/FORMATS.md "Volume map"). The coordinator keeps no host paths: a replication payload names a
 * volume by id, and the appliance looks the id up here. The map is read afresh for every job, so an
 * operator adds a volume without restarting the appliance.
 *
 * A volume may name a *changed-extents file*: the hypervisor's change tracking (VMware
 * DiskChangeInfo, Hyper-V RCT, or Lifeboat's generic list: blockio/extents.ts) for the period since
 * the volume's last recovery point. When it is there, a cycle reads only those extents; after the
 * cycle commits, the appliance deletes the file, so the next one covers the next period.
 */
import { readFile } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import { ID_PATTERN } from '../../protocol/schema-types.js'
import { ReplicationError, ReplicationErrorCode } from './errors.js'

export const VOLUME_MAP_FORMAT = 'lifeboat-volume-map'
export const VOLUME_MAP_VERSION = 1
/** A map larger than this is refused unread. */
export const MAX_VOLUME_MAP_BYTES = 1024 * 1024

export interface MappedVolume {
  /** Absolute path of the image file or block device. */
  path: string
  /** Absolute path of the changed-extents file, if the hypervisor writes one. */
  changedExtents?: string
}

export interface VolumeMap {
  volumes: ReadonlyMap<string, MappedVolume>
}

const idPattern = new RegExp(ID_PATTERN)

/** Reads and checks the map at `path`; AGENT_REPLICATION_VOLUME_MAP_INVALID names what is wrong. */
export async function readVolumeMap(path: string): Promise<VolumeMap> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw invalid(path, `cannot be read (${(cause as Error).message})`, cause)
  }
  if (Buffer.byteLength(text) > MAX_VOLUME_MAP_BYTES) {
    throw invalid(path, `is larger than ${MAX_VOLUME_MAP_BYTES} bytes`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (cause) {
    throw invalid(path, `is not JSON (${(cause as Error).message})`, cause)
  }
  return parseVolumeMap(parsed, path)
}

/** Checks a parsed map; `name` is used in messages. */
export function parseVolumeMap(value: unknown, name = 'the volume map'): VolumeMap {
  if (!isObject(value)) throw invalid(name, 'is not a JSON object')
  if (value.format !== VOLUME_MAP_FORMAT) {
    throw invalid(name, `has format ${JSON.stringify(value.format)}, expected "${VOLUME_MAP_FORMAT}"`)
  }
  if (value.version !== VOLUME_MAP_VERSION) {
    throw invalid(
      name,
      `has version ${JSON.stringify(value.version)}; this build reads version ${VOLUME_MAP_VERSION}`,
    )
  }
  if (!isObject(value.volumes)) throw invalid(name, '"volumes" must be an object of volume id → { path }')
  const volumes = new Map<string, MappedVolume>()
  for (const [id, entry] of Object.entries(value.volumes)) {
    if (!idPattern.test(id) || id.length > 128)
      throw invalid(name, `volume id ${JSON.stringify(id)} is not a valid id`)
    if (!isObject(entry)) throw invalid(name, `volume ${id} must be an object with "path"`)
    const path = absolutePath(entry.path, `volume ${id} "path"`, name)
    const mapped: MappedVolume = { path }
    if (entry.changedExtents !== undefined) {
      mapped.changedExtents = absolutePath(entry.changedExtents, `volume ${id} "changedExtents"`, name)
    }
    volumes.set(id, mapped)
  }
  return { volumes }
}

/** The volume's entry; AGENT_REPLICATION_VOLUME_UNKNOWN when the map does not list it. */
export function mappedVolume(map: VolumeMap, volumeId: string, mapPath: string): MappedVolume {
  const entry = map.volumes.get(volumeId)
  if (entry === undefined) {
    throw new ReplicationError(
      ReplicationErrorCode.VOLUME_UNKNOWN,
      `volume ${volumeId} is not in this appliance's volume map ${mapPath}`,
      {
        remediation: `Add "${volumeId}": { "path": "<image or device>" } to the map's "volumes"; the next retry reads it.`,
        retryable: true,
      },
    )
  }
  return entry
}

function absolutePath(value: unknown, what: string, name: string): string {
  if (typeof value !== 'string' || value.length === 0 || !isAbsolute(value)) {
    throw invalid(name, `${what} must be an absolute path`)
  }
  return value
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function invalid(name: string, problem: string, cause?: unknown): ReplicationError {
  return new ReplicationError(ReplicationErrorCode.VOLUME_MAP_INVALID, `${name} ${problem}`, {
    remediation: `Fix the volume map (docs/FORMATS.md "Volume map"): {"format":"${VOLUME_MAP_FORMAT}","version":${VOLUME_MAP_VERSION},"volumes":{"<volume id>":{"path":"/abs/image.raw"}}}.`,
    cause,
  })
}

/**
 * The chunk workers' collection of lz4-napi's decompressed Buffers (blockio/native-garbage.ts):
 * every WORKER_GARBAGE_BYTES of plaintext a chunk worker checked and dropped.
 */
import { NativeGarbage } from '../native-garbage.js'

/** Decompressed bytes a chunk worker lets pile up before it collects them (docs/LIMITS.md). */
export const WORKER_GARBAGE_BYTES = 4 * 1024 * 1024

export class WorkerGarbage extends NativeGarbage {
  constructor() {
    super(WORKER_GARBAGE_BYTES)
  }
}

import { MemoryBlockSource } from '../../blockio/memory-block-source.js'
import { blockSourceConformance } from './block-source.conformance.js'

blockSourceConformance('MemoryBlockSource', {
  open: async (bytes, blockSize) => new MemoryBlockSource(bytes, blockSize),
})

/**
 * The msgpack subset a frame body may use (docs/PROTOCOL.md §3): exactly one value of the families
 * nil, bool, int, float, str, bin, array and map with str keys, nested at most MAX_NESTING_DEPTH
 * deep, with no trailing bytes. Ext types are refused: msgpackr would otherwise build Dates,
 * RegExps, Errors, Sets, typed arrays and BigInts of any size from them, and its record extension
 * would change how later integers decode.
 *
 * The scan walks tokens, not bytes: strings and binaries are skipped by their length, so a 16 MiB
 * block batch costs a few microseconds per record. It allocates nothing per token, and a declared
 * length that could not fit in the remaining bytes fails at once, so a small header cannot make the
 * scan (or the decode after it) loop or allocate for long.
 */
import { MAX_NESTING_DEPTH } from './limits.js'
import { MalformedMessageError } from './protocol-errors.js'

/** Throws MalformedMessageError unless `body` is one value of the allowed subset. */
export function checkBodyStructure(body: Uint8Array, maxDepth = MAX_NESTING_DEPTH): void {
  const end = body.length
  if (end === 0) throw new MalformedMessageError('empty frame body')
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  // remaining[d]: values still to read in the container at depth d; depth 0 is the body itself.
  const remaining = new Array<number>(maxDepth + 1)
  const isMap = new Array<boolean>(maxDepth + 1)
  remaining[0] = 1
  isMap[0] = false
  let top = 0
  let pos = 0

  const need = (bytes: number): void => {
    if (bytes > end - pos)
      throw new MalformedMessageError(`truncated at byte ${pos} (${bytes} more bytes declared)`)
  }
  const open = (count: number, map: boolean): void => {
    if (top === maxDepth) throw new MalformedMessageError(`nested deeper than ${maxDepth} levels`)
    const values = map ? count * 2 : count
    // Every value needs at least one byte: refuse impossible counts before walking them.
    need(values)
    top++
    remaining[top] = values
    isMap[top] = map
  }

  while (top >= 0) {
    if (remaining[top] === 0) {
      top--
      continue
    }
    const expectKey = isMap[top] && remaining[top] % 2 === 0
    remaining[top]--
    need(1)
    const token = body[pos++]
    if (expectKey && !(token >= 0xa0 && token <= 0xbf) && !(token >= 0xd9 && token <= 0xdb)) {
      throw new MalformedMessageError(`map key at byte ${pos - 1} is not a string`)
    }
    if (token <= 0x7f || token >= 0xe0) continue
    if (token <= 0x8f) {
      open(token & 0x0f, true)
      continue
    }
    if (token <= 0x9f) {
      open(token & 0x0f, false)
      continue
    }
    if (token <= 0xbf) {
      need(token & 0x1f)
      pos += token & 0x1f
      continue
    }
    switch (token) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        break
      case 0xc4:
      case 0xd9:
        need(1)
        pos += 1
        need(body[pos - 1])
        pos += body[pos - 1]
        break
      case 0xc5:
      case 0xda: {
        need(2)
        const length = view.getUint16(pos)
        pos += 2
        need(length)
        pos += length
        break
      }
      case 0xc6:
      case 0xdb: {
        need(4)
        const length = view.getUint32(pos)
        pos += 4
        need(length)
        pos += length
        break
      }
      case 0xcc:
      case 0xd0:
        need(1)
        pos += 1
        break
      case 0xcd:
      case 0xd1:
        need(2)
        pos += 2
        break
      case 0xca:
      case 0xce:
      case 0xd2:
        need(4)
        pos += 4
        break
      case 0xcb:
      case 0xcf:
      case 0xd3:
        need(8)
        pos += 8
        break
      case 0xdc:
      case 0xde:
        need(2)
        pos += 2
        open(view.getUint16(pos - 2), token === 0xde)
        break
      case 0xdd:
      case 0xdf:
        need(4)
        pos += 4
        open(view.getUint32(pos - 4), token === 0xdf)
        break
      case 0xc1:
        throw new MalformedMessageError(`byte ${pos - 1} is 0xc1, which msgpack never uses`)
      default:
        // 0xc7–0xc9 and 0xd4–0xd8: ext and fixext.
        throw new MalformedMessageError(
          `ext type at byte ${pos - 1}: Lifeboat messages use no msgpack extensions`,
        )
    }
  }
  if (pos !== end) throw new MalformedMessageError(`${end - pos} bytes after the end of the message`)
}

import { describe, expect, it } from 'vitest'
import { BlockioError, BlockioErrorCode } from '../../blockio/errors.js'
import { LifeboatError, toErrorBody } from '../../protocol/errors.js'

describe('error bodies', () => {
  it('keep code, message, remediation and retryable of coded errors from any part', () => {
    const e = new BlockioError(BlockioErrorCode.INDEX_CORRUPT, 'bad index', {
      remediation: 'rescan',
      retryable: true,
    })
    expect(toErrorBody(e)).toEqual({
      code: 'BLOCKIO_INDEX_CORRUPT',
      message: 'bad index',
      remediation: 'rescan',
      retryable: true,
    })
    const l = new LifeboatError('X_Y', 'm', { remediation: 'r' })
    expect(l.toBody()).toEqual({ code: 'X_Y', message: 'm', remediation: 'r', retryable: false })
  })

  it('wrap anything else as INTERNAL', () => {
    expect(toErrorBody(new TypeError('boom'))).toMatchObject({
      code: 'INTERNAL',
      message: 'boom',
      retryable: false,
    })
    expect(toErrorBody('text')).toMatchObject({ code: 'INTERNAL', message: 'text' })
  })

  it('Promise.withResolvers exists after the setup polyfill', async () => {
    const { promise, resolve } = (
      Promise as unknown as { withResolvers: <T>() => { promise: Promise<T>; resolve: (v: T) => void } }
    ).withResolvers<number>()
    resolve(7)
    expect(await promise).toBe(7)
  })
})

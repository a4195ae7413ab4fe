/**
 * Node 20 lacks `Promise.withResolvers`, which libp2p 3 calls during the Noise handshake; without it
 * the handshake fails with EncryptionFailedError / ECONNRESET (notes/MEASURED-FACTS.md, pitfall 1).
 * Every entry point imports this module first, before anything that loads libp2p.
 */

interface PromiseWithResolversResult<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

type PromiseConstructorWithResolvers = PromiseConstructor & {
  withResolvers?: <T>() => PromiseWithResolversResult<T>
}

const PromiseCtor = Promise as PromiseConstructorWithResolvers
if (typeof PromiseCtor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(this: PromiseConstructor): PromiseWithResolversResult<T> {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new this<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

export {}

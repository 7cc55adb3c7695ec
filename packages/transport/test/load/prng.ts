/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counter, 32-bit): a seeded PRNG fast enough to generate a GiB of test data
 * in well under a second. Each load-test connection gets its own generator, seeded with its index.
 */
export class Sfc32 {
  #a: number
  #b: number
  #c: number
  #d: number

  constructor(seed: number) {
    this.#a = 0x9e3779b9
    this.#b = 0x243f6a88
    this.#c = 0xb7e15162
    this.#d = seed >>> 0
    for (let i = 0; i < 15; i++) this.next()
  }

  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0
    this.#d = (this.#d + 1) | 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) | 0
    this.#c = (this.#c << 21) | (this.#c >>> 11)
    this.#c = (this.#c + t) | 0
    return t >>> 0
  }

  /** `n` fresh pseudo-random bytes (a new buffer each call: callers hand it to a socket that keeps it queued). */
  bytes(n: number): Uint8Array {
    const words = new Uint32Array(Math.ceil(n / 4))
    for (let i = 0; i < words.length; i++) words[i] = this.next()
    return new Uint8Array(words.buffer, 0, n)
  }
}

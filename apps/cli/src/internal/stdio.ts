/**
 * The process's stdin and stdout as Effect operations with backpressure: stdin is read one chunk at a time (so a
 * slow socket slows the reading), and writes to stdout wait for 'drain'.
 */
import { Effect } from "effect"

/** The next chunk of stdin, or undefined at its end. */
export const stdinChunks = (): Effect.Effect<Uint8Array | undefined> => {
  const iterator = process.stdin[Symbol.asyncIterator]()
  return Effect.promise(() => iterator.next()).pipe(
    Effect.map((r) => (r.done === true ? undefined : (r.value as Uint8Array)))
  )
}

/** Writes to stdout; waits for 'drain' when the pipe is full, so a slow reader slows the socket down. */
export const writeStdout = (chunk: Uint8Array | string): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (process.stdout.write(chunk)) resume(Effect.void)
    else process.stdout.once("drain", () => resume(Effect.void))
  })

/** Splits a byte stream into lines (without their `\n` / `\r\n`), keeping the unfinished tail. */
export const lineSplitter = () => {
  let tail = Buffer.alloc(0)
  return {
    push(chunk: Uint8Array): Array<Uint8Array> {
      const data = tail.length === 0 ? Buffer.from(chunk) : Buffer.concat([tail, chunk])
      const lines: Array<Uint8Array> = []
      let start = 0
      for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, start)) {
        const end = i > start && data[i - 1] === 13 ? i - 1 : i
        lines.push(data.subarray(start, end))
        start = i + 1
      }
      tail = Buffer.from(data.subarray(start))
      return lines
    },
    /** The last line when the input did not end with a newline. */
    end(): Array<Uint8Array> {
      const last = tail
      tail = Buffer.alloc(0)
      return last.length > 0 ? [last] : []
    }
  }
}

/** At most this much received data is kept for a --json document. */
export const jsonReceivedLimit = 16 * 1024 * 1024

/** Received bytes kept for `--json` output, up to a limit (the rest is counted, not kept). */
export const collector = (limit: number = jsonReceivedLimit) => {
  const parts: Array<Uint8Array> = []
  let kept = 0
  let total = 0
  return {
    add(chunk: Uint8Array) {
      total += chunk.length
      if (kept >= limit) return
      const part = chunk.length <= limit - kept ? chunk : chunk.subarray(0, limit - kept)
      parts.push(part)
      kept += part.length
    },
    report() {
      const bytes = Buffer.concat(parts)
      const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes)
      const isText = !text.includes("\uFFFD") || bytes.includes(Buffer.from("\uFFFD"))
      return {
        bytes: total,
        truncated: total > kept,
        ...(isText ? { text } : { base64: bytes.toString("base64") })
      }
    }
  }
}

/** LF → CRLF for a byte stream, leaving existing CRLFs alone (also when the CR ended the previous chunk). */
export const crlfConverter = () => {
  let lastWasCr = false
  return (chunk: Uint8Array): Uint8Array => {
    const out: Array<number> = []
    for (const byte of chunk) {
      if (byte === 10 && !lastWasCr) out.push(13)
      out.push(byte)
      lastWasCr = byte === 13
    }
    return Uint8Array.from(out)
  }
}

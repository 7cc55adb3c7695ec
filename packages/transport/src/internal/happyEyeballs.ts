/**
 * Happy Eyeballs v2 (RFC 8305 §5): connect to a list of addresses, starting the next attempt when the current one
 * fails or after `attemptDelay` without an answer, keeping earlier attempts running; the first to connect wins and
 * the others are destroyed. Written against node:net callbacks rather than one fiber per attempt, because it is on
 * the hot path of every connect.
 */
import * as Net from "node:net"

export interface Attempt {
  readonly host: string
  readonly port: number
  readonly family: 4 | 6
  /** For messages: `127.0.0.1:80`, `[::1]:80`. */
  readonly label: string
}

export interface AttemptFailure {
  readonly attempt: Attempt
  readonly error: unknown
}

export interface DialOptions {
  readonly attemptDelay: number
  readonly localAddress?: string | undefined
  readonly localPort?: number | undefined
  readonly noDelay?: boolean | undefined
  readonly keepAlive?: boolean | undefined
  readonly keepAliveInitialDelay?: number | undefined
}

/** Interleaves families, starting with the family of the first address (RFC 8305 §4). */
export const interleave = (attempts: ReadonlyArray<Attempt>): ReadonlyArray<Attempt> => {
  if (attempts.length < 3) return attempts
  const first = attempts[0].family
  const a = attempts.filter((x) => x.family === first)
  const b = attempts.filter((x) => x.family !== first)
  const out: Array<Attempt> = []
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i])
    if (i < b.length) out.push(b[i])
  }
  return out
}

/**
 * Dials `attempts` in order. Calls `done` exactly once, with the winning socket or with every failure. Returns a
 * function that cancels everything still running (and then `done` is never called).
 */
export const dial = (
  attempts: ReadonlyArray<Attempt>,
  options: DialOptions,
  done: (result: { readonly socket: Net.Socket; readonly attempt: Attempt } | ReadonlyArray<AttemptFailure>) => void
): (() => void) => {
  const active = new Set<Net.Socket>()
  const failures: Array<AttemptFailure> = []
  let next = 0
  let finished = false
  let timer: ReturnType<typeof setTimeout> | undefined

  const finish = () => {
    finished = true
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
  }

  const start = () => {
    if (finished || next >= attempts.length) return
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    const attempt = attempts[next++]
    const socket = Net.connect({
      host: attempt.host,
      port: attempt.port,
      family: attempt.family,
      ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
      ...(options.localPort !== undefined ? { localPort: options.localPort } : {}),
      ...(options.noDelay !== undefined ? { noDelay: options.noDelay } : {}),
      ...(options.keepAlive !== undefined ? { keepAlive: options.keepAlive } : {}),
      ...(options.keepAliveInitialDelay !== undefined ? { keepAliveInitialDelay: options.keepAliveInitialDelay } : {}),
      // Our own timeouts and Happy Eyeballs apply; Node's own address-family racing must not nest inside them.
      autoSelectFamily: false
    })
    active.add(socket)
    const onConnect = () => {
      socket.off("error", onError)
      active.delete(socket)
      if (finished) {
        socket.destroy()
        return
      }
      finish()
      for (const other of active) other.destroy()
      active.clear()
      done({ socket, attempt })
    }
    const onError = (error: unknown) => {
      socket.off("connect", onConnect)
      socket.destroy()
      active.delete(socket)
      if (finished) return
      failures.push({ attempt, error })
      if (next < attempts.length) start()
      else if (active.size === 0) {
        finish()
        done(failures)
      }
    }
    socket.once("connect", onConnect)
    socket.once("error", onError)
    if (next < attempts.length) timer = setTimeout(start, options.attemptDelay)
  }

  start()
  return () => {
    if (finished) return
    finish()
    for (const socket of active) socket.destroy()
    active.clear()
  }
}

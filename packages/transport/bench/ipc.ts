/**
 * Parent ↔ child plumbing for the transport benchmark: a forked Node process (same Node binary, `.ts` run directly)
 * and request/reply over its IPC channel, plus waiting for events the child pushes.
 */
import { type ChildProcess, fork } from "node:child_process"

export interface Reply {
  readonly id: number
  readonly ok: boolean
  readonly error?: string
  readonly [key: string]: unknown
}

export interface Event {
  readonly event: string
  readonly [key: string]: unknown
}

/** Milliseconds on a clock shared by every process of the machine (for cross-process timestamps). */
export const wallMs = (): number => performance.timeOrigin + performance.now()

export class Child {
  readonly process: ChildProcess
  #nextId = 1
  #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>()
  #eventWaiters = new Set<{ match: (e: Event) => boolean; resolve: (e: Event) => void }>()
  #exited: string | undefined

  constructor(script: string, args: ReadonlyArray<string>, execArgv: ReadonlyArray<string> = []) {
    this.process = fork(script, [...args], {
      execPath: process.execPath,
      execArgv: [...execArgv],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    this.process.on("message", (message: { readonly id?: unknown; readonly event?: unknown }) => {
      if (typeof message.id === "number") {
        const reply = message as Reply
        const waiter = this.#pending.get(reply.id)
        this.#pending.delete(reply.id)
        if (waiter === undefined) return
        if (reply.ok) waiter.resolve(reply)
        else waiter.reject(new Error(`child ${script}: ${reply.error}`))
      } else if (typeof message.event === "string") {
        const event = message as Event
        for (const waiter of this.#eventWaiters) {
          if (waiter.match(event)) {
            this.#eventWaiters.delete(waiter)
            waiter.resolve(event)
          }
        }
      }
    })
    this.process.once("exit", (code, signal) => {
      this.#exited = `child ${script} ${args.join(" ")} exited (code ${code}, signal ${signal})`
      for (const waiter of this.#pending.values()) waiter.reject(new Error(this.#exited))
      this.#pending.clear()
    })
  }

  request<A extends Reply = Reply>(message: object, timeoutMs = 60_000): Promise<A> {
    if (this.#exited !== undefined) return Promise.reject(new Error(this.#exited))
    const id = this.#nextId++
    return new Promise<A>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`no reply to ${JSON.stringify(message).slice(0, 200)} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer)
          resolve(reply as A)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        }
      })
      this.process.send({ ...message, id })
    })
  }

  /** The next event matching `match` (subscribe before doing what triggers it). */
  event<A extends Event = Event>(match: (e: Event) => boolean, timeoutMs = 120_000): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      const waiter = {
        match,
        resolve: (e: Event) => {
          clearTimeout(timer)
          resolve(e as A)
        }
      }
      const timer = setTimeout(() => {
        this.#eventWaiters.delete(waiter)
        reject(new Error(`no matching event from the child within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#eventWaiters.add(waiter)
    })
  }

  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill("SIGKILL")
  }

  exited(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return Promise.resolve()
    return new Promise((resolve) => this.process.once("exit", () => resolve()))
  }
}

/** In a child: answers requests with `handle`, pushes events with `emit`, exits when the parent goes away. */
export const serveRequests = (
  handle: (message: { readonly op: string; readonly [key: string]: unknown }) => Promise<object>
) => {
  process.on("message", (message: { id: number; op: string }) => {
    handle(message).then(
      (result) => process.send?.({ ...result, id: message.id, ok: true }),
      (error: unknown) =>
        process.send?.({
          id: message.id,
          ok: false,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error)
        })
    )
  })
  process.on("disconnect", () => process.exit(0))
}

export const emit = (event: Event): void => {
  process.send?.(event)
}

/**
 * Scripted fake servers for dialogue tests: a netdial listener on 127.0.0.1 that replays a server's side of a
 * dialogue byte for byte — as written, split one byte per write, or with several replies glued into one write —
 * checks what the client sends, and can switch to TLS itself (with the test PKI) at the point the script says.
 */
import { makeTestPki, type TestPki } from "@netdial/testkit"
import { type Connection, Transports } from "@netdial/transport"
import { Duration, Effect, Fiber, type Scope } from "effect"
import * as Session from "../../src/Session.ts"

export type Step =
  /** Send bytes. */
  | { readonly send: string | Uint8Array }
  /** Read what the client sends until the text received (since the last expect) matches; the match is recorded. */
  | { readonly expect: string | RegExp; readonly bytes?: number }
  /** Read exactly n bytes (binary protocols) and record them. */
  | { readonly expectBytes: number }
  /** Switch to TLS as the server; fails the script if the client pipelined anything after its upgrade command. */
  | { readonly startTls: true }
  /** Wait. */
  | { readonly sleep: number }
  /** Close the connection. */
  | { readonly close: true }

/**
 * How `send` steps reach the client: `as-written` one write per step; `byte-by-byte` one write per byte, each
 * flushed before the next; `batched` consecutive sends glued into one write.
 */
export type Delivery = "as-written" | "byte-by-byte" | "batched"

export interface ScriptRun {
  /** `tcp://127.0.0.1:PORT` to dial. */
  readonly url: string
  readonly port: number
  /** Waits for the script to finish; fails if a step failed. Returns what each expect step matched. */
  readonly done: Effect.Effect<ReadonlyArray<string | Uint8Array>, unknown>
  readonly pki: TestPki
}

const encoder = new TextEncoder()
const bytesOf = (data: string | Uint8Array) => (typeof data === "string" ? encoder.encode(data) : data)

const runScript = (connection: Connection, script: ReadonlyArray<Step>, delivery: Delivery, pki: TestPki) =>
  Effect.gen(function* () {
    const session = yield* Session.make(connection, { protocol: "fake-server", stepTimeout: "10 seconds" })
    const seen: Array<string | Uint8Array> = []
    let pending: Array<Uint8Array> = []
    const flush = Effect.gen(function* () {
      if (pending.length === 0) return
      const total = pending.reduce((n, b) => n + b.length, 0)
      const glued = new Uint8Array(total)
      let at = 0
      for (const b of pending) {
        glued.set(b, at)
        at += b.length
      }
      pending = []
      yield* session.write(glued, "send")
    })
    for (const step of script) {
      if ("send" in step) {
        const data = bytesOf(step.send)
        if (delivery === "batched") pending.push(data)
        else if (delivery === "byte-by-byte") {
          for (const byte of data) {
            yield* session.write(Uint8Array.of(byte), "send")
            yield* Effect.sleep(Duration.millis(1))
          }
        } else yield* session.write(data, "send")
        continue
      }
      yield* flush
      if ("expect" in step) {
        let text = ""
        const matches = () => (typeof step.expect === "string" ? text.includes(step.expect) : step.expect.test(text))
        while (!matches()) {
          if (session.buffered().length === 0) yield* session.readMore("expect")
          text += new TextDecoder().decode(session.consume(session.buffered().length))
        }
        seen.push(text)
      } else if ("expectBytes" in step) {
        seen.push(yield* session.readBytes(step.expectBytes, "expect"))
      } else if ("startTls" in step) {
        yield* session.upgrade({ role: "server", cert: pki.server.chainPem, key: pki.server.keyPem })
      } else if ("sleep" in step) {
        yield* Effect.sleep(Duration.millis(step.sleep))
      } else if ("close" in step) {
        yield* session.connection().close
      }
    }
    yield* flush
    return seen
  })

/** Starts a fake server that runs `script` for the first connection. */
export const scriptedServer = (
  script: ReadonlyArray<Step>,
  delivery: Delivery = "as-written"
): Effect.Effect<ScriptRun, unknown, Transports | Scope.Scope> =>
  Effect.gen(function* () {
    const pki = yield* Effect.promise(() => makeTestPki())
    const transports = yield* Transports
    const listener = yield* transports.listen("tcp://127.0.0.1:0")
    const fiber = yield* Effect.forkScoped(
      Effect.scoped(Effect.flatMap(listener.accept, (connection) => runScript(connection, script, delivery, pki)))
    )
    const port = listener.url.port!
    return { url: `tcp://127.0.0.1:${port}`, port, done: Fiber.join(fiber), pki }
  })

/** The three deliveries, for tests that must pass under each. */
export const deliveries: ReadonlyArray<Delivery> = ["as-written", "byte-by-byte", "batched"]

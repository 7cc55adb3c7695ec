/**
 * The dialogue harness shared by the protocol tests: runs a client dialogue against a scripted fake server and
 * returns the outcome, or (after a success) the result with what the server saw.
 */

import { expect } from "@effect/vitest"
import { Transports } from "@netdial/transport"
import { type Duration, Effect, type Scope } from "effect"
import type { Policy, Protocol } from "../../src/Protocol.ts"
import * as Session from "../../src/Session.ts"
import type { StartTlsError } from "../../src/StartTlsError.ts"
import { type Delivery, type Step, scriptedServer } from "./scripted.ts"

export interface Options {
  readonly delivery?: Delivery
  readonly policy?: Policy
  readonly stepTimeout?: Duration.Input
  /** Connect, then upgrade before the dialogue (the implicit-TLS form) and run `discover`. */
  readonly implicit?: boolean
}

/** The harness for one protocol. */
export const harness = (protocol: Protocol) => {
  /** Runs the client dialogue against `script`; returns the outcome and (after a success) what the server saw. */
  const dialogue = (script: ReadonlyArray<Step>, options: Options = {}) =>
    Effect.gen(function* () {
      // The trailing pause keeps the fake server open while the client reads its last reply.
      const run = yield* scriptedServer([...script, { sleep: 300 }], options.delivery ?? "as-written")
      const transports = yield* Transports
      const connection = yield* transports.connect(run.url)
      const session = yield* Session.make(connection, {
        protocol: protocol.name,
        stepTimeout: options.stepTimeout ?? "5 seconds"
      })
      const tls = { ca: run.pki.ca.certPem, peerName: "localhost" }
      const dialogueOptions = {
        policy: options.policy ?? "required",
        tls,
        clientName: "localhost",
        domain: "localhost"
      }
      if (options.implicit === true) yield* session.upgrade(tls)
      const outcome =
        options.implicit === true
          ? protocol.discover(session, dialogueOptions)
          : protocol.startTls(session, dialogueOptions)
      return { run, outcome }
    })

  const succeeds = (script: ReadonlyArray<Step>, options: Options = {}) =>
    Effect.gen(function* () {
      const { run, outcome } = yield* dialogue(script, options)
      const result = yield* outcome
      const seen = (yield* run.done).map((s) => (typeof s === "string" ? s : new TextDecoder().decode(s)))
      return { result, seen }
    })

  const fails = (script: ReadonlyArray<Step>, options: Options = {}) =>
    Effect.gen(function* () {
      const { outcome } = yield* dialogue(script, options)
      return yield* Effect.flip(outcome)
    })
  return { dialogue, succeeds, fails }
}

type Fails = (
  script: ReadonlyArray<Step>,
  options?: Options
) => Effect.Effect<StartTlsError, unknown, Transports | Scope.Scope>

/**
 * The two failures every line protocol shares after its upgrade command: the server closes (`Closed`), or says
 * nothing (`TimedOut` within the step timeout), both at the `upgrade` step.
 */
export const closeAndSilenceAfter = (
  it: { readonly effect: (name: string, self: () => Effect.Effect<void, unknown, Transports | Scope.Scope>) => void },
  verb: string,
  fails: Fails,
  upToUpgrade: ReadonlyArray<Step>
): void => {
  it.effect(`connection closed after ${verb}: Closed`, () =>
    Effect.gen(function* () {
      const error = yield* fails([...upToUpgrade, { close: true }])
      expect(error.reason).toBe("Closed")
      expect(error.step).toBe("upgrade")
    }).pipe(Effect.scoped)
  )
  it.effect(`silence after ${verb}: TimedOut`, () =>
    Effect.gen(function* () {
      const started = Date.now()
      const error = yield* fails([...upToUpgrade, { sleep: 10_000 }], { stepTimeout: "1 second" })
      expect(error.reason).toBe("TimedOut")
      expect(error.step).toBe("upgrade")
      expect(Date.now() - started).toBeLessThan(8000)
    }).pipe(Effect.scoped)
  )
}

/**
 * One netdial SMTP session (or N): `node bench/netdial-session.ts PORT CA_FILE [N]`. Greeting, EHLO, STARTTLS, TLS
 * handshake (chain and name verified against CA_FILE, name `localhost`), EHLO, QUIT (221 awaited), connection closed.
 * Prints one line of JSON: the duration of each session in ms (used for the in-process figure of the benchmark's
 * per-process run and as a smoke test). `sessionOnce` is also what the benchmark calls in-process.
 */
import * as Fs from "node:fs"
import { Transports } from "@netdial/transport"
import { Effect } from "effect"
import { readReply } from "../src/protocols/smtp.ts"
import * as Session from "../src/Session.ts"
import { connect } from "../src/StartTls.ts"

/**
 * One session; fails unless the dialogue, the verified handshake and QUIT's 221 all succeed. `groups` narrows the
 * key exchange (default: OpenSSL's list, X25519MLKEM768 first).
 */
export const session = (port: number, ca: string, groups?: ReadonlyArray<string>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const result = yield* connect(`tcp://localhost:${port}`, "smtp", {
        tls: groups === undefined ? { ca } : { ca, groups }
      })
      if (!result.encrypted) return yield* Effect.die(new Error("not encrypted"))
      const s = yield* Session.make(result.connection, { protocol: "smtp", stepTimeout: "10 seconds" })
      yield* s.write("QUIT\r\n", "quit")
      const reply = yield* readReply(s, "quit")
      if (reply.code !== 221) return yield* Effect.die(new Error(`QUIT answered ${reply.code}`))
    })
  )

if (import.meta.main) {
  const port = Number(process.argv[2])
  const ca = Fs.readFileSync(process.argv[3]!, "utf8")
  const n = Number(process.argv[4] ?? 1)
  const program = Effect.gen(function* () {
    const times: Array<number> = []
    for (let i = 0; i < n; i++) {
      const start = performance.now()
      yield* session(port, ca)
      times.push(performance.now() - start)
    }
    return times
  }).pipe(Effect.provide(Transports.layerNode))
  Effect.runPromise(program).then(
    (times) => console.log(JSON.stringify(times)),
    (error) => {
      console.error("netdial-session:", error)
      process.exit(1)
    }
  )
}

/**
 * The server side of `smtp-session.bench.ts`, run as a forked child so the clients' CPU does not compete with it in
 * one event loop: `node bench/smtp-server.ts PKI_DIR`. netdial's `serveSmtp` on `tcp://127.0.0.1:0` with the test
 * PKI's server chain and key (files written by `writeTestPki`); it sends `{ port }` over IPC once listening and exits
 * when the parent disconnects (or dies).
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Transports } from "@netdial/transport"
import { Effect } from "effect"
import { serveSmtp } from "../src/SmtpServer.ts"

const dir = process.argv[2]
if (dir === undefined) throw new Error("usage: node bench/smtp-server.ts PKI_DIR")
const material = {
  cert: Fs.readFileSync(Path.join(dir, "server-chain.pem"), "utf8"),
  key: Fs.readFileSync(Path.join(dir, "server.key"), "utf8")
}

const program = Effect.gen(function* () {
  const transports = yield* Transports
  const listener = yield* transports.listen("tcp://127.0.0.1:0", {})
  yield* serveSmtp(listener, { tls: material, hostname: "mx.test", onMessage: () => Effect.void }).pipe(
    Effect.forkScoped
  )
  process.send?.({ port: listener.url.port })
  yield* Effect.never
}).pipe(Effect.scoped, Effect.provide(Transports.layerNode))

process.on("disconnect", () => process.exit(0))
Effect.runPromise(program).catch((error) => {
  console.error("smtp-server:", error)
  process.exit(1)
})

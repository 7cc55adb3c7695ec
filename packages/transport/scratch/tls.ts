import { Effect } from "effect"
import { makeTestPki } from "@netdial/testkit"
import { Transports } from "../src/index.ts"
const program = Effect.gen(function* () {
  const pki = yield* Effect.promise(() => makeTestPki())
  const t = yield* Transports
  const listener = yield* t.listen("tls://127.0.0.1:0", { cert: pki.server.chainPem, key: pki.server.keyPem })
  console.log("listening", String(listener.url))
  const client = yield* t.connect(`tls://localhost:${listener.url.port}`, { ca: pki.ca.certPem, connectTimeout: 3000 })
  console.log("connected", client.tls?.protocol, client.tls?.cipher, client.tls?.authorized, client.tls?.servername)
  const server = yield* listener.accept
  console.log("accepted", server.tls?.protocol, server.tls?.servername)
  const w = yield* client.writer
  yield* w.write(new TextEncoder().encode("hi tls"))
  const r = yield* server.reader
  const b = yield* r.pull
  console.log("read", b.map((x) => Buffer.from(x as Uint8Array).toString()))
  const v12 = yield* t.connect(`tlsv1.2://localhost:${listener.url.port}`, { ca: pki.ca.certPem })
  console.log("pinned", v12.tls?.protocol)
  const bad = yield* t.connect(`tls://127.0.0.1:${listener.url.port}`, { connectTimeout: 3000 }).pipe(Effect.flip)
  console.log("untrusted:", bad.reason, bad.tlsProblem, bad.message)
}).pipe(Effect.scoped, Effect.provide(Transports.layerNode))
Effect.runPromise(program.pipe(Effect.timeout("8 seconds"))).then(() => console.log("done"), (e) => console.log("err", e))

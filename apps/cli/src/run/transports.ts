/** `netdial transports`: the registered schemes (PHP's stream_get_transports) and the STARTTLS protocols. */
import { defaultPorts, protocolNames, protocols } from "@netdial/starttls"
import { Transports } from "@netdial/transport"
import { Effect } from "effect"
import { out, print, printJson } from "../internal/output.ts"

export const runTransports = (json: boolean): Effect.Effect<void> =>
  Effect.gen(function* () {
    const transports = yield* Transports
    const list = yield* transports.list
    const schemes = list.map((t) => ({ scheme: t.scheme, kind: t.kind, secure: t.secure, description: t.description }))
    const starttls = protocolNames.map((name) => ({
      protocol: name,
      plainPort: defaultPorts[name].plain ?? null,
      implicitTlsPort: defaultPorts[name].implicit ?? null,
      description: protocols[name].description
    }))
    if (json) return yield* printJson({ command: "transports", ok: true, transports: schemes, starttls })
    const w = Math.max(...schemes.map((s) => s.scheme.length)) + 3
    const lines = [out.bold("transports")]
    for (const s of schemes) {
      const refused = s.description.startsWith("refused") || s.description.includes("not available")
      const name = `${s.scheme}://`.padEnd(w)
      lines.push(
        `  ${refused ? out.dim(name) : out.cyan(name)}  ${s.kind.padEnd(8)}  ${refused ? out.dim(s.description) : s.description}`
      )
    }
    lines.push(
      "",
      `${out.bold("starttls protocols")} ${out.dim("(--starttls; ports: plain+STARTTLS / TLS from the first byte)")}`
    )
    const pw = Math.max(...starttls.map((p) => p.protocol.length))
    for (const p of starttls) {
      const ports = `${p.plainPort ?? "-"}/${p.implicitTlsPort ?? "-"}`
      lines.push(`  ${out.cyan(p.protocol.padEnd(pw))}  ${ports.padEnd(9)}  ${p.description}`)
    }
    yield* print(lines.join("\n"))
  }).pipe(Effect.provide(Transports.layerNode))

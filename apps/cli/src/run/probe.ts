/**
 * `netdial probe`: one TLS handshake (direct, or after a STARTTLS dialogue), then everything about it — protocol,
 * cipher, ALPN, the chain, the verification verdict and its reason, and the time of each phase. Verification is
 * reported, not enforced, so a bad certificate is still shown; the exit code says whether it verified.
 */
import * as Dns from "node:dns/promises"
import { type ProtocolName, startTls } from "@netdial/starttls"
import { type Connection, Tls, Transports, type TransportsService } from "@netdial/transport"
import { format } from "@netdial/url"
import { Effect } from "effect"
import { certificateRows, colonHex, tlsReport } from "../internal/describe.ts"
import { Failure, reportOf } from "../internal/failure.ts"
import { isDirectory } from "../internal/files.ts"
import { err, out, print, printError, printJson, table } from "../internal/output.ts"
import { makeProgress } from "../internal/progress.ts"
import { type Context, fail, usage } from "../internal/report.ts"
import { targetOf } from "../internal/target.ts"
import {
  type DialValues,
  dialOptionsOf,
  pinsOf,
  type TlsClientValues,
  tlsClientOptionsOf
} from "../internal/tlsFlags.ts"
import { defaultPortFor } from "./starttlsPorts.ts"

export interface ProbeInput {
  readonly url: string
  readonly port: number | undefined
  readonly starttls: ProtocolName | undefined
  readonly dial: DialValues
  readonly tls: TlsClientValues
  readonly json: boolean
  readonly quiet: boolean
}

const ms = (start: number) => Number((performance.now() - start).toFixed(2))

const bracket = (address: string) => (address.includes(":") ? `[${address}]` : address)

export const runProbe = (input: ProbeInput): Effect.Effect<void, Failure> =>
  Effect.scoped(
    Effect.gen(function* () {
      const ctx: Context = { command: "probe", json: input.json }
      const url = yield* targetOf(ctx, input.url, input.port, {
        defaultPort: input.starttls !== undefined ? defaultPortFor(input.starttls, input.url) : 443
      })
      if (url.scheme === "udp" || url.scheme === "udg") {
        return yield* usage(
          ctx,
          `${url.scheme}:// carries datagrams; TLS (and so a probe) needs a stream: tcp://, tls:// or unix://`
        )
      }
      if (input.starttls !== undefined && url.scheme !== "tcp" && url.scheme !== "unix") {
        return yield* usage(ctx, `--starttls starts in plaintext: use tcp://, not ${url.scheme}://`)
      }
      const dial = dialOptionsOf(input.dial)
      if (typeof dial === "string") return yield* usage(ctx, dial)
      const tls = tlsClientOptionsOf({ ...input.tls, pin: [] }, isDirectory)
      if (typeof tls === "string") return yield* usage(ctx, tls)
      const pins = pinsOf(input.tls.pin)
      if (typeof pins === "string") return yield* usage(ctx, pins)
      const enforce = !input.tls.insecure

      const progress = yield* makeProgress(!input.quiet && !input.json)
      const transports: TransportsService = yield* Transports
      const phases: Record<string, number> = {}
      const total = performance.now()
      // A bad option (an unreadable --ca, a group OpenSSL lacks) surfaces only at the handshake: still exit 2.
      const failed = (error: { readonly reason: string }) =>
        Effect.andThen(
          progress.clear,
          fail(ctx, error.reason === "BadOption" ? 2 : 1, error, { target: format(url), phases })
        )

      // Resolve (a name only), then connect to the addresses in the resolver's order until one answers, as
      // `openssl s_client` does; the report names the one that did.
      let addresses: ReadonlyArray<string> = []
      const peerName = tls.peerName ?? (url.kind === "inet" ? url.hostname : undefined)
      if (url.kind === "inet" && url.hostKind === "domain") {
        yield* progress.phase(`resolving ${url.hostname}`)
        const start = performance.now()
        const family = input.dial.ipv4 ? 4 : input.dial.ipv6 ? 6 : 0
        const found = yield* Effect.tryPromise({
          try: () => Dns.lookup(url.hostname, { all: true, family, order: "verbatim" }),
          catch: (e) => ({
            _tag: "TransportError",
            reason: "NameNotResolved",
            message: `cannot resolve ${url.hostname}: ${(e as Error).message}`,
            operation: "resolve"
          })
        }).pipe(Effect.catch(failed))
        phases.resolveMs = ms(start)
        addresses = found.map((a) => a.address)
      } else if (url.kind === "inet") {
        addresses = [url.hostname]
      }
      const candidates =
        url.kind === "inet"
          ? addresses.map((a) => ({ address: `${bracket(a)}:${url.port}`, dialUrl: `tcp://${bracket(a)}:${url.port}` }))
          : [{ address: url.abstract ? `@${url.path.slice(1)}` : url.path, dialUrl: format(url) }]
      let start = performance.now()
      let plain: Connection | undefined
      let address = candidates[0]!.address
      const attempts: Array<{ address: string; error: ReturnType<typeof reportOf> }> = []
      for (const candidate of candidates) {
        yield* progress.phase(`connecting to ${candidate.address}`)
        const attempt = yield* Effect.result(transports.connect(candidate.dialUrl, dial))
        if (attempt._tag === "Success") {
          plain = attempt.success
          address = candidate.address
          break
        }
        attempts.push({ address: candidate.address, error: reportOf(attempt.failure) })
        if (attempt.failure.reason === "BadOption" || candidate === candidates[candidates.length - 1]) {
          return yield* Effect.andThen(
            progress.clear,
            fail(ctx, attempt.failure.reason === "BadOption" ? 2 : 1, attempt.failure, {
              target: format(url),
              phases,
              ...(attempts.length > 1 ? { attempts } : {})
            })
          )
        }
      }
      if (plain === undefined) return yield* Effect.die(new Error("no address to connect to"))
      phases.connectMs = ms(start)

      // The handshake reports the verdict instead of enforcing it, so that a bad chain is still shown.
      const upgradeOptions = {
        ...tls,
        ...(peerName !== undefined ? { peerName } : {}),
        verifyPeer: false,
        verifyPeerName: false,
        capturePeerCertificate: true,
        capturePeerCertificateChain: true
      }
      start = performance.now()
      let secured: Connection
      let capabilities: { before: ReadonlyArray<string>; after: ReadonlyArray<string> } | undefined
      if (input.starttls !== undefined) {
        yield* progress.phase(`STARTTLS (${input.starttls}) and TLS handshake`)
        const result = yield* startTls(plain, input.starttls, { tls: upgradeOptions }).pipe(Effect.catch(failed))
        secured = result.connection
        capabilities = { before: result.capabilitiesBeforeTls, after: result.capabilities }
        phases.starttlsAndHandshakeMs = ms(start)
      } else {
        yield* progress.phase("TLS handshake")
        secured = yield* Tls.upgrade(plain, upgradeOptions).pipe(Effect.catch(failed))
        phases.handshakeMs = ms(start)
      }
      phases.totalMs = ms(total)
      yield* progress.clear
      yield* secured.shutdownWrite.pipe(Effect.ignore)
      yield* secured.close

      const details = tlsReport(secured.tls!)
      const leaf = details.peerCertificate
      const pinResult =
        pins === undefined || leaf === null
          ? null
          : {
              expected: pins,
              matched: Object.entries(pins).every(
                ([algorithm, hex]) =>
                  (secured.tls!.peerCertificate!.fingerprints as unknown as Record<string, string>)[algorithm] === hex
              )
            }
      const chainOk = details.verified
      const verified = chainOk && (pinResult === null || pinResult.matched)
      const reason = !chainOk ? details.verifyError : pinResult !== null && !pinResult.matched ? "PIN_MISMATCH" : null
      const result = {
        command: "probe",
        ok: verified || !enforce,
        target: format(url),
        address,
        addresses,
        phases,
        tls: details,
        verification: { verified, reason, checkedName: peerName ?? null, pin: pinResult, enforced: enforce },
        ...(verified || !enforce
          ? {}
          : {
              error: {
                type: "VerificationFailed",
                reason: "VerificationFailed",
                message: `the certificate did not verify: ${reason}; --insecure probes without failing`
              }
            }),
        starttls:
          capabilities === undefined
            ? null
            : { protocol: input.starttls, capabilities: capabilities.after, capabilitiesBeforeTls: capabilities.before }
      }
      if (input.json) yield* printJson(result)
      else yield* print(render(result))
      if (!verified && enforce) {
        const message = `the certificate did not verify: ${reason}; --insecure probes without failing`
        if (!input.json) yield* printError(`${err.red("netdial probe:")} ${message}`)
        return yield* new Failure({ exitCode: 1, message })
      }
    }).pipe(Effect.provide(Transports.layerNode))
  )

type ProbeResult = {
  readonly target: string
  readonly address: string
  readonly phases: Record<string, number>
  readonly tls: ReturnType<typeof tlsReport>
  readonly verification: {
    readonly verified: boolean
    readonly reason: string | null
    readonly checkedName: string | null
    readonly pin: { readonly matched: boolean } | null
    readonly enforced: boolean
  }
  readonly starttls: { readonly protocol: string | undefined; readonly capabilities: ReadonlyArray<string> } | null
}

const phaseNames: Record<string, string> = {
  resolveMs: "resolve",
  connectMs: "connect",
  handshakeMs: "handshake",
  starttlsAndHandshakeMs: "starttls + handshake",
  totalMs: "total"
}

const render = (r: ProbeResult): string => {
  const t = r.tls
  const v = r.verification
  const sections: Array<string> = []
  sections.push(
    `${out.bold(r.target)} ${out.dim(`(${r.address})`)}\n${table([
      ["protocol", t.protocol],
      [
        "cipher",
        `${t.cipher}${t.cipherBits !== null ? ` (${t.cipherBits} bits)` : ""}${t.cipherStandardName !== t.cipher ? ` ${out.dim(t.cipherStandardName)}` : ""}`
      ],
      ["key exchange", t.keyExchange ?? out.dim("unknown")],
      ["alpn", t.alpn ?? out.dim("none")],
      ["sni", t.servername ?? out.dim("none (IP literal)")],
      ...(r.starttls !== null
        ? [["starttls", `${r.starttls.protocol}: ${r.starttls.capabilities.join(" ")}`] as const]
        : [])
    ])}`
  )
  const chain = t.chain ?? (t.peerCertificate !== null ? [t.peerCertificate] : [])
  chain.forEach((c, i) => {
    sections.push(
      `${out.bold(`certificate ${i}`)}${i === 0 ? out.dim(" (leaf)") : ""}\n${table(certificateRows(c, out))}`
    )
  })
  const verdict = v.verified
    ? out.green("verified")
    : `${out.red("NOT verified")}: ${v.reason}${v.enforced ? "" : out.dim(" (--insecure: reported only)")}`
  const rows: Array<readonly [string, string]> = [
    ["verdict", verdict],
    ["name", v.checkedName ?? out.dim("(none)")]
  ]
  if (v.pin !== null) rows.push(["pin", v.pin.matched ? out.green("matched") : out.red("mismatch")])
  sections.push(`${out.bold("verification")}\n${table(rows)}`)
  sections.push(
    `${out.bold("timings")}\n${table(Object.entries(r.phases).map(([phase, value]) => [phaseNames[phase] ?? phase, `${value.toFixed(1)} ms`]))}`
  )
  return sections.join("\n\n")
}

export { colonHex }

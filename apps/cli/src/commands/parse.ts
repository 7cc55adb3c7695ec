/**
 * `netdial parse <input>…`: explains transport URLs the way `@netdial/url` reads them — scheme, kind, host kind,
 * port, canonical form — or why one is refused, with the position, the fix and a suggestion.
 */
import { format, parse, type TransportUrl, type TransportUrlError } from "@netdial/url"
import { Effect, Result } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { Failure } from "../internal/failure.ts"
import { out, print, printJson, table } from "../internal/output.ts"
import { json } from "../internal/sharedFlags.ts"

export interface ParseOptions {
  readonly defaultPort: number | undefined
  readonly allowPortZero: boolean
  readonly allowLegacyIpv4: boolean
}

const transportKind = (scheme: string): string => {
  switch (scheme) {
    case "tcp":
      return "TCP stream"
    case "udp":
      return "UDP datagrams"
    case "ssl":
    case "tls":
      return "TCP + TLS (1.2 or 1.3 unless asked otherwise)"
    case "tlsv1.0":
    case "tlsv1.1":
    case "tlsv1.2":
    case "tlsv1.3":
      return `TCP + TLS ${scheme.slice(4)} only`
    case "sslv2":
    case "sslv3":
      return "refused when dialed: SSL 2/3 are prohibited (RFC 6176, RFC 7568)"
    case "unix":
      return "Unix domain stream socket"
    case "udg":
      return "Unix domain datagram socket"
    default:
      return "custom scheme (needs a registered transport to dial)"
  }
}

/** The stable JSON shape of an accepted input. */
export const describeUrl = (input: string, url: TransportUrl) => ({
  input,
  ok: true as const,
  scheme: url.scheme,
  schemeGiven: /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(input),
  transport: transportKind(url.scheme),
  ...(url.kind === "inet"
    ? {
        kind: "inet" as const,
        host: url.hostname,
        hostKind: url.hostKind,
        zone: url.zone ?? null,
        port: url.port
      }
    : { kind: "unix" as const, path: url.abstract ? `@${url.path.slice(1)}` : url.path, abstract: url.abstract }),
  canonical: format(url)
})

/** The stable JSON shape of a refused input. */
export const describeError = (input: string, error: TransportUrlError) => ({
  input,
  ok: false as const,
  error: {
    type: "TransportUrlError",
    reason: error.reason,
    position: error.position,
    message: error.message,
    ...(error.suggestion !== undefined ? { suggestion: error.suggestion } : {})
  }
})

/** Control characters would move the cursor or ring the bell; show them escaped. */
const visible = (s: string) =>
  s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)

const renderOk = (d: ReturnType<typeof describeUrl>): string => {
  const rows: Array<readonly [string, string]> = [
    ["scheme", d.schemeGiven ? d.scheme : `${d.scheme} ${out.dim("(no scheme given: tcp, as in PHP)")}`],
    ["transport", d.transport]
  ]
  if (d.kind === "inet") {
    rows.push(["host", `${d.host} ${out.dim(`(${d.hostKind}${d.zone !== null ? `, zone ${d.zone}` : ""})`)}`])
    rows.push(["port", String(d.port)])
  } else {
    rows.push(["path", `${d.path}${d.abstract ? ` ${out.dim("(Linux abstract socket)")}` : ""}`])
  }
  rows.push(["canonical", out.bold(d.canonical)])
  return `${out.green("✓")} ${visible(d.input)}\n${table(rows)}`
}

const renderError = (d: ReturnType<typeof describeError>): string => {
  // The caret lines up under the escaped input, so count escaped widths before the position.
  const before = visible(d.input.slice(0, d.error.position))
  const rows: Array<readonly [string, string]> = [
    ["reason", out.red(d.error.reason)],
    ["message", d.error.message]
  ]
  if (d.error.suggestion !== undefined) rows.push(["try", out.bold(d.error.suggestion)])
  const lines = [
    `${out.red("✗")} ${visible(d.input)}`,
    `  ${" ".repeat(before.length)}${out.red("^")} ${out.dim(`position ${d.error.position}`)}`,
    table(rows)
  ]
  return lines.join("\n")
}

export const runParse = (
  inputs: ReadonlyArray<string>,
  options: ParseOptions,
  asJson: boolean
): Effect.Effect<void, Failure> =>
  Effect.gen(function* () {
    const results = inputs.map((input) => {
      const parsed = parse(input, {
        defaultPort: options.defaultPort,
        allowPortZero: options.allowPortZero,
        allowLegacyIpv4: options.allowLegacyIpv4
      })
      return Result.isSuccess(parsed) ? describeUrl(input, parsed.success) : describeError(input, parsed.failure)
    })
    const refused = results.filter((r) => !r.ok).length
    if (asJson) {
      yield* printJson({ command: "parse", ok: refused === 0, results })
    } else {
      yield* print(results.map((r) => (r.ok ? renderOk(r) : renderError(r))).join("\n\n"))
    }
    if (refused > 0) {
      return yield* new Failure({ exitCode: 2, message: `${refused} of ${results.length} input(s) refused` })
    }
  })

export const parseCommand = Command.make(
  "parse",
  {
    inputs: Argument.String("input").pipe(
      Argument.withDescription("A transport URL: tcp://host:port, udp://…, tls://[::1]:443, unix:///path, host:port…"),
      Argument.variadic({ min: 1 })
    ),
    defaultPort: Flag.Int("default-port").pipe(
      Flag.withDescription("Port to use when the input has none"),
      Flag.optional
    ),
    allowPortZero: Flag.Boolean("allow-port-zero").pipe(
      Flag.withDescription("Accept port 0 (an ephemeral port, for servers)"),
      Flag.withDefault(false)
    ),
    allowLegacyIpv4: Flag.Boolean("allow-legacy-ipv4").pipe(
      Flag.withDescription("Accept inet_aton spellings (127.1, 0x7f.0.0.1) and normalise them"),
      Flag.withDefault(false)
    ),
    json
  },
  (config) =>
    runParse(
      config.inputs,
      {
        defaultPort: config.defaultPort._tag === "Some" ? config.defaultPort.value : undefined,
        allowPortZero: config.allowPortZero,
        allowLegacyIpv4: config.allowLegacyIpv4
      },
      config.json
    )
).pipe(
  Command.withDescription(
    "Explain transport URLs: scheme, kind, host, port and canonical form, or the error and its fix"
  ),
  Command.withExamples([
    { command: "netdial parse 'tls://[::1]:443'", description: "An IPv6 literal in brackets with a port" },
    { command: "netdial parse '::1:80'", description: "Refused: IPv6 needs brackets when a port follows" },
    { command: "netdial parse --json example.com:25 udp://127.0.0.1:53", description: "Several inputs, as JSON" }
  ])
)

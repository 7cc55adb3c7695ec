/** `netdial probe <url>`: the flags; the work is in run/probe.ts. */
import { Effect, Option } from "effect"
import { Argument, Command } from "effect/cli"
import { json, port, quiet } from "../internal/sharedFlags.ts"
import { dialFlags, pickClientValues, tlsClientFlags } from "../internal/tlsFlags.ts"
import { starttlsFlag } from "./connect.ts"

export const probeCommand = Command.make(
  "probe",
  {
    url: Argument.String("url").pipe(
      Argument.withDescription(
        "tls://host:port, or host:port (TLS on that port); default port 443, or the protocol's with --starttls"
      )
    ),
    port,
    starttls: starttlsFlag,
    ...dialFlags,
    ...tlsClientFlags,
    json,
    quiet
  },
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("../run/probe.ts")),
      ({ runProbe }) =>
        runProbe({
          url: config.url,
          port: Option.getOrUndefined(config.port),
          starttls: Option.getOrUndefined(config.starttls),
          ...pickClientValues(config),
          json: config.json,
          quiet: config.quiet
        })
    )
).pipe(
  Command.withDescription(
    "One TLS handshake, then a report: protocol, cipher, ALPN, the chain, the verdict and its reason, time per phase (exit 1 if it does not verify)"
  ),
  Command.withExamples([
    { command: "netdial probe example.com:443", description: "Chain, verdict and timings against the system CAs" },
    {
      command: "netdial probe mail.example.com --starttls smtp",
      description: "Port 587: EHLO, STARTTLS, then the handshake"
    },
    {
      command: "netdial probe tls://127.0.0.1:8443 --ca ca.pem --peer-name localhost",
      description: "A private CA and a name"
    },
    { command: "netdial probe tls://[::1]:8443 --insecure --json", description: "Report without failing, as JSON" }
  ])
)

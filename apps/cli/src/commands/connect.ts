/** `netdial connect <url>`: the flags; the work is in run/connect.ts, loaded only when the command runs. */
import { protocolNames } from "@netdial/starttls"
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { json, port, quiet } from "../internal/sharedFlags.ts"
import { dialFlags, pickClientValues, tlsClientFlags } from "../internal/tlsFlags.ts"

export const starttlsFlag = Flag.Literals("starttls", protocolNames).pipe(
  Flag.withDescription(`Run this protocol's STARTTLS dialogue first (${protocolNames.join(", ")})`),
  Flag.optional
)

export const connectCommand = Command.make(
  "connect",
  {
    url: Argument.String("url").pipe(
      Argument.withDescription("Where to connect: tcp://host:port, udp://…, tls://…, unix:///path (no scheme = tcp)")
    ),
    port,
    starttls: starttlsFlag,
    crlf: Flag.Boolean("crlf").pipe(
      Flag.withAlias("C"),
      Flag.withDescription("Send line ends from stdin as CRLF, as SMTP, IMAP, POP3 and FTP want them"),
      Flag.withDefault(false)
    ),
    wait: Flag.Finite("wait").pipe(
      Flag.withDescription("After stdin ends, close once the peer has been silent this many seconds (udp default 2)"),
      Flag.filter(
        (n) => n >= 0 && n <= 86_400,
        (n) => `--wait takes seconds from 0 to 86400 (got ${n})`
      ),
      Flag.optional
    ),
    ...dialFlags,
    ...tlsClientFlags,
    json,
    quiet
  },
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("../run/connect.ts")),
      ({ runConnect }) =>
        runConnect({
          url: config.url,
          port: Option.getOrUndefined(config.port),
          starttls: Option.getOrUndefined(config.starttls),
          wait: Option.getOrUndefined(config.wait),
          crlf: config.crlf,
          ...pickClientValues(config),
          json: config.json,
          quiet: config.quiet
        })
    )
).pipe(
  Command.withDescription(
    "Connect, then copy stdin to the socket and the socket to stdout until either side is done (udp: one datagram per line)"
  ),
  Command.withExamples([
    { command: "netdial connect tcp://127.0.0.1:7", description: "A TCP connection (type, read the echo)" },
    { command: "netdial connect example.com --port 80", description: "The fsockopen() form: host and port apart" },
    {
      command: "netdial connect tls://mail.example.com:465 --alpn smtp",
      description: "TLS from the first byte, verified against the system CAs"
    },
    {
      command: "netdial connect mail.example.com:587 --starttls smtp",
      description: "Plaintext, EHLO, STARTTLS, handshake, EHLO again — then the session is yours"
    },
    {
      command: "netdial connect tcp://127.0.0.1:587 --starttls smtp --crlf --ca ca.pem --peer-name localhost",
      description: "Type SMTP by hand over the upgraded session (Enter sends CRLF)"
    },
    {
      command: "netdial connect tcp://127.0.0.1:587 --starttls smtp --crlf --ca ca.pem --peer-name localhost",
      description: "Type SMTP by hand over the upgraded session (Enter sends CRLF)"
    },
    { command: "printf 'ping\\n' | netdial connect udp://127.0.0.1:9000", description: "One datagram per line" },
    {
      command: "netdial connect --json tls://localhost:8443 --ca ca.pem < request.txt",
      description: "The session as one JSON document"
    }
  ])
)

/** `netdial listen <url>`: the flags; the server is in run/listen.ts. */
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { json, port, quiet } from "../internal/sharedFlags.ts"
import { tlsServerFlags } from "../internal/tlsFlags.ts"

export const listenCommand = Command.make(
  "listen",
  {
    url: Argument.String("url").pipe(
      Argument.withDescription(
        "Where to listen: tcp://127.0.0.1:7000, tls://[::1]:0 (0 = any free port), udp://…, unix:///path"
      )
    ),
    port,
    echo: Flag.Boolean("echo").pipe(
      Flag.withDescription("Send every client's data back to it"),
      Flag.withDefault(false)
    ),
    maxConnections: Flag.Int("max-connections").pipe(
      Flag.withDescription("Exit (0) after this many connections have ended (udp: datagrams received)"),
      Flag.filter(
        (n) => n >= 1,
        (n) => `--max-connections must be at least 1 (got ${n})`
      ),
      Flag.optional
    ),
    once: Flag.Boolean("once").pipe(Flag.withDescription("Same as --max-connections 1"), Flag.withDefault(false)),
    ...tlsServerFlags,
    json,
    quiet
  },
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("../run/listen.ts")),
      ({ runListen }) =>
        runListen({
          url: config.url,
          port: Option.getOrUndefined(config.port),
          echo: config.echo,
          maxConnections: config.once ? 1 : Option.getOrUndefined(config.maxConnections),
          tls: {
            cert: config.cert,
            key: config.key,
            passphrase: config.passphrase,
            ca: config.ca,
            requireClientCert: config.requireClientCert,
            tlsMin: config.tlsMin,
            tlsMax: config.tlsMax,
            groups: config.groups,
            alpn: config.alpn
          },
          json: config.json,
          quiet: config.quiet
        })
    )
).pipe(
  Command.withDescription(
    "Accept connections: each client's data to stdout (or back with --echo), stdin to the most recent client; udp: one line per datagram"
  ),
  Command.withExamples([
    { command: "netdial listen tcp://127.0.0.1:7000 --echo", description: "An echo server on loopback" },
    {
      command: "netdial listen tls://[::1]:8443 --cert server.pem --key server.key",
      description: "A TLS server on IPv6 loopback"
    },
    { command: "netdial listen udp://127.0.0.1:9000 --once", description: "Print one datagram and exit" },
    { command: "netdial listen unix:///tmp/app.sock", description: "A Unix socket (removed when netdial exits)" }
  ])
)

/**
 * The public API: run a protocol's STARTTLS dialogue over a live connection (`startTls`), or dial and pick STARTTLS
 * or implicit TLS from the port (`connect`). Both are injection-proof: bytes that follow the upgrade reply are
 * refused, never read later as if they had come over TLS, and everything learned in plaintext is discovered again
 * over TLS.
 *
 * `enableCrypto` is the bare switch (PHP's `stream_socket_enable_crypto`) for callers that ran their own dialogue.
 */
import { type Connection, type ConnectOptions, Tls, type TransportError, Transports } from "@netdial/transport"
import { format, formatUrlHost, parse, type TransportUrl } from "@netdial/url"
import { Duration, Effect, Option, Result, type Scope } from "effect"
import {
  type DialogueOptions,
  type DialogueResult,
  type Policy,
  type Protocol,
  type ProtocolName,
  protocolNames
} from "./Protocol.ts"
import { protocols } from "./protocols/index.ts"
import * as Session from "./Session.ts"
import { fromTransport, StartTlsError } from "./StartTlsError.ts"

export interface StartTlsOptions {
  /** `required` (default): anything short of verified TLS fails. `opportunistic`: no offer or a refusal → plaintext. */
  readonly policy?: Policy | undefined
  /**
   * TLS options of the handshake. Verification is on; `peerName` (checked name and SNI) defaults to the host name
   * of the connection's URL (`localhost` for unix sockets); `handshakeTimeout` defaults to `stepTimeout`.
   */
  readonly tls?: Tls.ClientUpgradeOptions | undefined
  /** Our name in EHLO/LHLO. Default `localhost`. */
  readonly clientName?: string | undefined
  /** The server's domain where the protocol sends it (XMPP `to=`). Default: the host name of the connection's URL. */
  readonly domain?: string | undefined
  /** XMPP server-to-server: our own domain (`from=`). */
  readonly fromDomain?: string | undefined
  /** MySQL: client capability flags to announce (the SSL bit is added). */
  readonly mysqlCapabilities?: number | undefined
  /** Time allowed for each read and write of the dialogue (and, unless `tls.handshakeTimeout`, the handshake). Default 30 s. */
  readonly stepTimeout?: Duration.Input | undefined
}

export type StartTlsResult = DialogueResult & {
  /** The TLS connection (use it from now on, not the one passed in), or the plaintext one when `encrypted` is false. */
  readonly connection: Connection
}

/**
 * `starttls`: plaintext, then the upgrade, required. `opportunistic`: the same, but no offer or a refusal leaves
 * the connection in plaintext (`encrypted: false`). `implicit`: TLS from the first byte (`tls://`), then discovery.
 */
export type ConnectMode = "starttls" | "implicit" | "opportunistic"

export interface ConnectStartTlsOptions extends StartTlsOptions {
  /** Default: `implicit` when the URL is `tls://`/`ssl://` or its port is the protocol's implicit port, else `starttls`. */
  readonly mode?: ConnectMode | undefined
  /** Options of the dial (`connectTimeout`, `addressPolicy`, `family`…); TLS options go in `tls`. */
  readonly connect?: ConnectOptions | undefined
}

export interface DefaultPorts {
  /** The plaintext port where the upgrade command is used. */
  readonly plain: number | undefined
  /** The port with TLS from the first byte, if the protocol has one. */
  readonly implicit: number | undefined
}

/**
 * The well-known ports (IANA, RFC 8314 and de-facto ones). PostgreSQL 17's direct TLS shares 5432 and needs ALPN,
 * so it has no separate implicit port here (ask for it with `mode: "implicit"`); XMPP server-to-server direct TLS
 * (XEP-0368) has no settled port.
 */
export const defaultPorts: Readonly<Record<ProtocolName, DefaultPorts>> = {
  smtp: { plain: 587, implicit: 465 },
  lmtp: { plain: undefined, implicit: undefined },
  imap: { plain: 143, implicit: 993 },
  pop3: { plain: 110, implicit: 995 },
  ftp: { plain: 21, implicit: 990 },
  xmpp: { plain: 5222, implicit: 5223 },
  "xmpp-server": { plain: 5269, implicit: undefined },
  irc: { plain: 6667, implicit: 6697 },
  postgres: { plain: 5432, implicit: undefined },
  mysql: { plain: 3306, implicit: undefined },
  nntp: { plain: 119, implicit: 563 },
  sieve: { plain: 4190, implicit: undefined },
  ldap: { plain: 389, implicit: 636 }
}

const badOption = (protocol: string, message: string) =>
  new StartTlsError({ reason: "BadOption", protocol, step: "options", message: `${protocol}: ${message}` })

/** The dialogue for a name (or the `Protocol` given). */
export const resolveProtocol = (protocol: ProtocolName | Protocol): Effect.Effect<Protocol, StartTlsError> =>
  Effect.suspend(() => {
    if (typeof protocol !== "string") return Effect.succeed(protocol)
    if (!(protocolNames as ReadonlyArray<string>).includes(protocol)) {
      return Effect.fail(badOption(String(protocol), `unknown protocol; netdial knows ${protocolNames.join(", ")}`))
    }
    const found: Protocol | undefined = protocols[protocol]
    return found === undefined
      ? Effect.fail(badOption(protocol, "this build of @netdial/starttls has no dialogue for it yet"))
      : Effect.succeed(found)
  })

interface Prepared {
  readonly dialogue: DialogueOptions
  readonly stepTimeout: Duration.Input | undefined
}

const prepare = (
  protocol: Protocol,
  url: TransportUrl,
  options: StartTlsOptions,
  policyOverride?: Policy
): Effect.Effect<Prepared, StartTlsError> =>
  Effect.suspend(() => {
    const policy = policyOverride ?? options.policy ?? "required"
    if (policy !== "required" && policy !== "opportunistic") {
      return Effect.fail(
        badOption(protocol.name, `policy must be "required" or "opportunistic", got ${JSON.stringify(policy)}`)
      )
    }
    let stepTimeout: Duration.Input | undefined
    if (options.stepTimeout !== undefined) {
      const parsed = Duration.fromInput(options.stepTimeout)
      if (Option.isNone(parsed) || !(Duration.toMillis(parsed.value) > 0)) {
        return Effect.fail(badOption(protocol.name, 'stepTimeout must be a positive duration (e.g. "10 seconds")'))
      }
      stepTimeout = parsed.value
    }
    const tls: Tls.ClientUpgradeOptions = {
      ...(stepTimeout !== undefined ? { handshakeTimeout: stepTimeout } : {}),
      ...options.tls
    }
    const dialogue: DialogueOptions = {
      policy,
      tls,
      clientName: options.clientName ?? "localhost",
      domain: options.domain ?? (url.kind === "inet" ? url.hostname : "localhost"),
      ...(options.fromDomain !== undefined ? { fromDomain: options.fromDomain } : {}),
      ...(options.mysqlCapabilities !== undefined ? { mysqlCapabilities: options.mysqlCapabilities } : {})
    }
    return Effect.succeed({ dialogue, stepTimeout })
  })

/**
 * Runs `protocol`'s dialogue over a live plaintext `connection`: greeting, discovery, the upgrade command alone,
 * a strict check of its reply, the handshake (refused if any byte followed the reply), and discovery again over TLS.
 *
 * On success use `result.connection` (the TLS one); the one passed in must not be used any more. On failure the
 * connection is closed: a failed upgrade leaves nothing to fall back on (never retry in plaintext when TLS was
 * required). Under `policy: "opportunistic"`, a server that does not offer or refuses the upgrade gives
 * `encrypted: false` and the plaintext connection, whose capabilities a man in the middle may have edited.
 */
export const startTls = (
  connection: Connection,
  protocol: ProtocolName | Protocol,
  options: StartTlsOptions = {}
): Effect.Effect<StartTlsResult, StartTlsError, Scope.Scope> =>
  Effect.gen(function* () {
    const dialogue = yield* resolveProtocol(protocol)
    if (connection.mode === "datagram") {
      return yield* badOption(dialogue.name, "STARTTLS needs a stream; a udp:// connection cannot be upgraded")
    }
    if (connection.tls !== undefined) {
      return yield* badOption(
        dialogue.name,
        `the connection already speaks ${connection.tls.protocol}; use discover (or connect with mode "implicit")`
      )
    }
    const prepared = yield* prepare(dialogue, connection.url, options)
    const session = yield* Session.make(connection, { protocol: dialogue.name, stepTimeout: prepared.stepTimeout })
    const result = yield* dialogue
      .startTls(session, prepared.dialogue)
      .pipe(Effect.onError(() => session.connection().close))
    return { ...result, connection: session.connection() }
  })

/**
 * The dialogue after implicit TLS (a `tls://` connection): greeting and discovery only. Under `required` a
 * plaintext connection is refused.
 */
export const discover = (
  connection: Connection,
  protocol: ProtocolName | Protocol,
  options: StartTlsOptions = {}
): Effect.Effect<StartTlsResult, StartTlsError, Scope.Scope> =>
  Effect.gen(function* () {
    const dialogue = yield* resolveProtocol(protocol)
    const prepared = yield* prepare(dialogue, connection.url, options)
    const session = yield* Session.make(connection, { protocol: dialogue.name, stepTimeout: prepared.stepTimeout })
    const result = yield* dialogue
      .discover(session, prepared.dialogue)
      .pipe(Effect.onError(() => session.connection().close))
    return { ...result, connection: session.connection() }
  })

const tlsSchemes: ReadonlySet<string> = new Set(["ssl", "tls", "tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"])

/** A dial failure that is really the implicit-TLS handshake becomes `TlsFailed`/`TimedOut`, as for STARTTLS. */
const dialError =
  (protocol: string) =>
  (error: TransportError): StartTlsError | TransportError =>
    error.operation === "handshake" || error.reason === "TlsHandshakeFailed"
      ? fromTransport(protocol, "handshake", error)
      : error

/**
 * Dials `url` and secures it for `protocol`. The mode is `options.mode`, or `implicit` for a `tls://`-family URL
 * or when the port is the protocol's implicit port (465, 993, 995, 563, 636, 990, 5223, 6697…), else `starttls`
 * (required). A URL without a port gets the protocol's port for the mode. `unix://` works for both modes.
 *
 * Dial errors (refused, unreachable, DNS…) are `TransportError`s as `Transports.connect` reports them; everything
 * from the TLS handshake on is a `StartTlsError` (a failed implicit-TLS handshake is `TlsFailed`, as for STARTTLS).
 */
export const connect = (
  url: string,
  protocol: ProtocolName | Protocol,
  options: ConnectStartTlsOptions = {}
): Effect.Effect<StartTlsResult, StartTlsError | TransportError, Transports | Scope.Scope> =>
  Effect.gen(function* () {
    const dialogue = yield* resolveProtocol(protocol)
    const { mode: requested, connect: connectOptions, ...rest } = options
    if (
      requested !== undefined &&
      requested !== "starttls" &&
      requested !== "implicit" &&
      requested !== "opportunistic"
    ) {
      return yield* badOption(
        dialogue.name,
        `mode must be "starttls", "implicit" or "opportunistic", got ${JSON.stringify(requested)}`
      )
    }
    if (requested === "opportunistic" && options.policy === "required") {
      return yield* badOption(dialogue.name, 'mode "opportunistic" contradicts policy "required"')
    }

    // Parse: first as given; without a port, again with the protocol's port for the mode.
    let parsed = parse(url)
    if (Result.isFailure(parsed) && parsed.failure.reason === "MissingPort") {
      const probe = parse(url, { defaultPort: 1 })
      const implicitWanted =
        requested === "implicit" || (Result.isSuccess(probe) && tlsSchemes.has(probe.success.scheme))
      const port = implicitWanted ? dialogue.implicitPort : dialogue.plainPort
      if (port === undefined) {
        return yield* badOption(
          dialogue.name,
          `${url} has no port and ${dialogue.name} has no standard ${implicitWanted ? "implicit-TLS" : "plaintext"} port; give one`
        )
      }
      parsed = parse(url, { defaultPort: port })
    }
    if (Result.isFailure(parsed)) return yield* badOption(dialogue.name, parsed.failure.message)
    const target = parsed.success

    if (target.scheme === "udp" || target.scheme === "udg") {
      return yield* badOption(dialogue.name, `STARTTLS needs a stream transport, not ${target.scheme}://`)
    }
    const tlsScheme = tlsSchemes.has(target.scheme)
    if (tlsScheme && requested !== undefined && requested !== "implicit") {
      return yield* badOption(
        dialogue.name,
        `${target.scheme}:// is TLS from the first byte, which contradicts mode "${requested}"; use tcp:// for STARTTLS`
      )
    }
    const mode: ConnectMode =
      requested ??
      (tlsScheme ||
      (target.kind === "inet" &&
        dialogue.implicitPort !== undefined &&
        dialogue.implicitPort !== dialogue.plainPort &&
        target.port === dialogue.implicitPort)
        ? "implicit"
        : "starttls")

    // Options are checked before anything is dialed.
    const prepared = yield* prepare(dialogue, target, rest, mode === "opportunistic" ? "opportunistic" : undefined)
    const transports = yield* Transports
    if (mode === "implicit") {
      const { role: _role, ...tlsOptions } = prepared.dialogue.tls
      let connection: Connection
      if (target.kind === "inet") {
        const dialed = tlsScheme ? format(target) : `tls://${formatUrlHost(target)}:${target.port}`
        connection = yield* transports
          .connect(dialed, { ...connectOptions, ...tlsOptions })
          .pipe(Effect.mapError(dialError(dialogue.name)))
      } else {
        // unix: no tls:// form, so dial and run the handshake at once.
        const plain = yield* transports.connect(target, connectOptions)
        connection = yield* enableCrypto(plain, prepared.dialogue.tls, dialogue.name)
      }
      return yield* discover(connection, dialogue, rest)
    }
    const connection = yield* transports.connect(target, connectOptions)
    return yield* startTls(connection, dialogue, {
      ...rest,
      ...(mode === "opportunistic" ? { policy: "opportunistic" as const } : {})
    })
  })

/**
 * The `stream_socket_enable_crypto` of netdial: switches `connection` to TLS (client by default, or
 * `{ role: "server", cert, key }`) after a dialogue the caller ran itself, with errors in STARTTLS terms.
 *
 * It can only refuse plaintext bytes that Node still holds for the socket (`Injection`). Bytes the caller's own
 * reader already pulled, beyond the upgrade reply, are invisible to it: a caller that reads through a `Session`
 * must use `session.upgrade`, which refuses any unconsumed byte and is the injection-proof way.
 */
export const enableCrypto = (
  connection: Connection,
  options: Tls.UpgradeOptions = {},
  protocol = "tls"
): Effect.Effect<Connection, StartTlsError, Scope.Scope> =>
  Tls.upgrade(connection, options).pipe(Effect.mapError((error) => fromTransport(protocol, "handshake", error)))

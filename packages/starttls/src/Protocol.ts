/**
 * The shape every protocol dialogue has: the plaintext part up to the upgrade, the upgrade itself (through
 * `Session.upgrade`, which refuses injected bytes), and the rediscovery after TLS that replaces everything learned
 * before it.
 */
import type { Tls, TlsDetails } from "@netdial/transport"
import type { Effect } from "effect"
import type { Session } from "./Session.ts"
import type { StartTlsError } from "./StartTlsError.ts"

export const protocolNames = [
  "smtp",
  "lmtp",
  "imap",
  "pop3",
  "ftp",
  "xmpp",
  "xmpp-server",
  "irc",
  "postgres",
  "mysql",
  "nntp",
  "sieve",
  "ldap"
] as const

export type ProtocolName = (typeof protocolNames)[number]

/**
 * `required` (the default): anything short of a verified TLS session is an error, before any credential or data is
 * sent, and there is never a plaintext retry. `opportunistic` (explicit): when the server does not offer or refuses
 * the upgrade, the dialogue ends with `encrypted: false` (a failed handshake is still an error: the stream is gone).
 */
export type Policy = "required" | "opportunistic"

export interface DialogueOptions {
  readonly policy: Policy
  /** TLS options for the handshake (peer name, CA, versions, pins…); verification is on by default. */
  readonly tls: Tls.ClientUpgradeOptions
  /** Our name where the protocol sends one: SMTP EHLO / LMTP LHLO. Default `localhost`. */
  readonly clientName: string
  /** The server's domain where the protocol names it: XMPP `to=`. Default: the host dialed. */
  readonly domain: string
  /** XMPP server-to-server: our own domain (`from=`). */
  readonly fromDomain?: string | undefined
  /** MySQL: the client capability flags to announce (the SSL bit is added). */
  readonly mysqlCapabilities?: number | undefined
}

export interface DialogueResult {
  readonly protocol: ProtocolName
  /** `true` when TLS is up. `false` only under the `opportunistic` policy. */
  readonly encrypted: boolean
  readonly tls: TlsDetails | undefined
  /**
   * What the server announces after TLS (EHLO keywords, CAPABILITY atoms, CAPA lines, stream features…), discovered
   * again over TLS. Without TLS (opportunistic fallback) the plaintext list, which must not be trusted.
   */
  readonly capabilities: ReadonlyArray<string>
  /** The plaintext list seen before the upgrade, for diagnostics only: a man in the middle can have edited it. */
  readonly capabilitiesBeforeTls: ReadonlyArray<string>
}

export interface Protocol {
  readonly name: ProtocolName
  /** Port for the plaintext + STARTTLS form (587 submission for smtp). */
  readonly plainPort: number | undefined
  /** Port for TLS from the first byte (465 for smtp), when the protocol has one. */
  readonly implicitPort: number | undefined
  readonly description: string
  /** Greeting, discovery, upgrade command, strict reply check, `session.upgrade`, rediscovery. */
  readonly startTls: (session: Session, options: DialogueOptions) => Effect.Effect<DialogueResult, StartTlsError>
  /** After implicit TLS (connected with tls://): greeting and discovery only. */
  readonly discover: (session: Session, options: DialogueOptions) => Effect.Effect<DialogueResult, StartTlsError>
}

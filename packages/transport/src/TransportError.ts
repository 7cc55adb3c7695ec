/**
 * One error family for everything a transport can refuse or fail at. The `reason` says what happened in words a
 * caller can switch on; the message says it in words a person can act on (PHP gives errno 0 and "" for every TLS
 * failure; here each certificate problem has its own name).
 */
import { Schema } from "effect"

export const transportErrorReasons = [
  /** The peer answered the connection attempt with RST (ECONNREFUSED). */
  "Refused",
  /** Connect, handshake, read, write or idle time ran out. */
  "TimedOut",
  /** DNS has no address for the host name (ENOTFOUND, EAI_AGAIN, no A/AAAA). */
  "HostNotFound",
  /** No route to the host or network (EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL on connect). */
  "Unreachable",
  /** The local address is taken (EADDRINUSE), or a stale unix socket file is in use by a live server. */
  "AddressInUse",
  /** The OS refused (EACCES, EPERM): a privileged port, a socket file's mode, a firewall rule. */
  "PermissionDenied",
  /** The address policy refused every resolved address (an SSRF guard). */
  "AddressDenied",
  /** The connection was reset or closed by the peer mid-operation (ECONNRESET, EPIPE, unexpected EOF). */
  "ConnectionReset",
  /** TLS handshake failed; `tlsProblem` says which certificate or protocol check failed. */
  "TlsHandshakeFailed",
  /** The scheme is not registered, refused by policy (sslv2/sslv3), or not possible on this platform. */
  "UnsupportedTransport",
  /** An option is unknown, ill-typed, or contradicts another. */
  "BadOption",
  /** The transport URL did not parse. */
  "BadUrl",
  /** An operation on a connection or listener that is already closed. */
  "Closed",
  /** A TLS upgrade of a connection that already speaks TLS (there is no second handshake on one stream). */
  "AlreadyEncrypted",
  /**
   * A TLS upgrade found plaintext bytes already received and not yet read: they would be handed out as if they had
   * come over TLS (the STARTTLS response-injection attack), so the upgrade is refused.
   */
  "UnexpectedPlaintext",
  /** Anything the classifier does not know; `code` and `cause` say more. */
  "Unknown"
] as const

export type TransportErrorReason = (typeof transportErrorReasons)[number]

/** What a TLS handshake tripped over, when it was a certificate or protocol check. */
export const tlsProblems = [
  "Expired",
  "NotYetValid",
  "SelfSigned",
  "UnknownCa",
  "HostnameMismatch",
  "FingerprintMismatch",
  "ProtocolVersion",
  "NoSharedCipher",
  "PeerCertificateRequired",
  "PeerRejectedCertificate",
  "NotTls",
  "Revoked",
  "BadCertificate",
  "Other"
] as const

export type TlsProblem = (typeof tlsProblems)[number]

export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  reason: Schema.Literals(transportErrorReasons),
  /** A sentence that says what went wrong and, where possible, what to do. */
  message: Schema.String,
  /** The transport URL (canonical form) of the operation, when there was one. */
  url: Schema.optional(Schema.String),
  /** The concrete address tried (`127.0.0.1:80`, `[::1]:80`, `/run/app.sock`), when one was. */
  address: Schema.optional(Schema.String),
  /** The OS or library code (`ECONNREFUSED`, `CERT_HAS_EXPIRED`, `ERR_SSL_…`). */
  code: Schema.optional(Schema.String),
  /** The OS errno, when there is one (111 for ECONNREFUSED on Linux). */
  errno: Schema.optional(Schema.Number),
  /** The syscall or phase that failed (`connect`, `bind`, `handshake`, `read`, `write`, `resolve`). */
  operation: Schema.optional(Schema.String),
  /** For `TlsHandshakeFailed`: which check failed. */
  tlsProblem: Schema.optional(Schema.Literals(tlsProblems)),
  /** Errors of the individual attempts, when several addresses were tried (Happy Eyeballs). */
  attempts: Schema.optional(Schema.Array(Schema.Unknown)),
  cause: Schema.optional(Schema.Defect())
}) {}

/**
 * Turns Node's errors (system errors with `code`/`errno`/`syscall`, OpenSSL errors with `ERR_SSL_*`, certificate
 * verification codes) into a `TransportError` with a reason, a TLS problem where there is one, and a message that
 * helps.
 */
import { type TlsProblem, TransportError, type TransportErrorReason } from "../TransportError.ts"

export interface ErrorContext {
  readonly url?: string | undefined
  readonly address?: string | undefined
  readonly operation: string
}

const osReasons: Record<string, TransportErrorReason> = {
  ECONNREFUSED: "Refused",
  ETIMEDOUT: "TimedOut",
  ENOTFOUND: "HostNotFound",
  EAI_AGAIN: "HostNotFound",
  EAI_NONAME: "HostNotFound",
  EAI_NODATA: "HostNotFound",
  EHOSTUNREACH: "Unreachable",
  ENETUNREACH: "Unreachable",
  EHOSTDOWN: "Unreachable",
  ENETDOWN: "Unreachable",
  EADDRNOTAVAIL: "Unreachable",
  EADDRINUSE: "AddressInUse",
  EACCES: "PermissionDenied",
  EPERM: "PermissionDenied",
  ECONNRESET: "ConnectionReset",
  EPIPE: "ConnectionReset",
  ECONNABORTED: "ConnectionReset",
  ERR_STREAM_PREMATURE_CLOSE: "ConnectionReset",
  ENOENT: "Refused",
  ENOTSOCK: "Refused",
  EAFNOSUPPORT: "UnsupportedTransport",
  EPROTONOSUPPORT: "UnsupportedTransport",
  EINVAL: "BadOption"
}

const tlsProblemsByCode: Record<string, TlsProblem> = {
  CERT_HAS_EXPIRED: "Expired",
  CERT_NOT_YET_VALID: "NotYetValid",
  DEPTH_ZERO_SELF_SIGNED_CERT: "SelfSigned",
  SELF_SIGNED_CERT_IN_CHAIN: "UnknownCa", // the chain ends in a root nobody trusts here
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "UnknownCa",
  UNABLE_TO_GET_ISSUER_CERT: "UnknownCa",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "UnknownCa",
  CERT_UNTRUSTED: "UnknownCa",
  CERT_REVOKED: "Revoked",
  CERT_SIGNATURE_FAILURE: "BadCertificate",
  CERT_REJECTED: "BadCertificate",
  INVALID_CA: "UnknownCa",
  ERR_TLS_CERT_ALTNAME_INVALID: "HostnameMismatch",
  HOSTNAME_MISMATCH: "HostnameMismatch",
  ERR_NETDIAL_FINGERPRINT_MISMATCH: "FingerprintMismatch",
  ERR_SSL_UNSUPPORTED_PROTOCOL: "ProtocolVersion",
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: "ProtocolVersion",
  ERR_SSL_NO_PROTOCOLS_AVAILABLE: "ProtocolVersion",
  ERR_SSL_UNSAFE_LEGACY_RENEGOTIATION_DISABLED: "ProtocolVersion",
  ERR_SSL_WRONG_VERSION_NUMBER: "NotTls",
  ERR_SSL_HTTP_REQUEST: "NotTls",
  ERR_SSL_PACKET_LENGTH_TOO_LONG: "NotTls",
  ERR_SSL_RECORD_LAYER_FAILURE: "NotTls",
  ERR_SSL_NO_SHARED_CIPHER: "NoSharedCipher",
  ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM: "NoSharedCipher",
  ERR_SSL_NO_SUITABLE_KEY_SHARE: "NoSharedCipher",
  ERR_SSL_NO_SHARED_GROUPS: "NoSharedCipher",
  ERR_SSL_LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED: "ProtocolVersion",
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: "PeerCertificateRequired",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "PeerCertificateRequired",
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "PeerRejectedCertificate",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "PeerRejectedCertificate",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: "PeerRejectedCertificate",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: "PeerRejectedCertificate",
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: "PeerRejectedCertificate",
  // OpenSSL 3.2+ (Node 24) spells the SSLv3-era alerts "ssl/tls alert …"
  "ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE": "PeerRejectedCertificate",
  "ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_EXPIRED": "PeerRejectedCertificate",
  "ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_UNKNOWN": "PeerRejectedCertificate",
  "ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_REVOKED": "PeerRejectedCertificate",
  "ERR_SSL_SSL/TLS_ALERT_UNSUPPORTED_CERTIFICATE": "PeerRejectedCertificate",
  ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL: "Other",
  "ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE": "Other",
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: "Other"
}

/** Some codes say more than their problem class; these get their own advice. */
const codeAdvice: Record<string, string> = {
  ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL: "no ALPN protocol is offered by both sides (`alpn`)",
  "ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE":
    "the peer aborted the handshake: no cipher suite, key-exchange group (`groups`) or signature algorithm in common, or it requires a client certificate (`cert`/`key`)",
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE:
    "the peer aborted the handshake: no cipher suite, key-exchange group (`groups`) or signature algorithm in common, or it requires a client certificate (`cert`/`key`)"
}

const tlsAdvice: Record<TlsProblem, string> = {
  Expired: "the peer's certificate has expired; renew it (or fix the clock)",
  NotYetValid: "the peer's certificate is not valid yet; check the clock on both sides",
  SelfSigned:
    "the peer's certificate is self-signed; trust it with `ca`, or pin it with `peerFingerprint` plus `verifyPeer: false`, or set `allowSelfSigned` if you accept the risk",
  UnknownCa: "the peer's certificate is signed by a CA that is not trusted; pass the CA with `ca` (PEM text or a file)",
  HostnameMismatch:
    "the peer's certificate is not valid for the name dialed; connect by a name in its subjectAltName, or set `peerName`",
  FingerprintMismatch: "the peer's certificate does not match the pinned fingerprint",
  ProtocolVersion:
    "no TLS version both sides allow (OpenSSL 3 refuses TLS 1.0/1.1 at its default security level; `securityLevel: 0` re-enables them)",
  NoSharedCipher: "no cipher suite, key-exchange group (`groups`) or signature algorithm both sides allow",
  PeerCertificateRequired: "the server requires a client certificate; pass `cert` and `key`",
  PeerRejectedCertificate: "the peer rejected our certificate",
  NotTls: "the peer did not answer in TLS (is this a plaintext port, e.g. 587 needing STARTTLS instead of tls://?)",
  Revoked: "the peer's certificate has been revoked",
  BadCertificate: "the peer's certificate is malformed or its signature is invalid",
  Other: "the TLS handshake failed"
}

const describeOs: Partial<Record<TransportErrorReason, string>> = {
  Refused: "connection refused: nothing listens there, or a firewall rejected it",
  TimedOut: "timed out",
  HostNotFound: "the host name does not resolve",
  Unreachable: "no route to that address",
  AddressInUse: "the address is already in use",
  PermissionDenied: "permission denied",
  ConnectionReset: "the peer reset or closed the connection",
  BadOption: "the OS rejected an argument",
  UnsupportedTransport: "the address family or protocol is not supported here"
}

interface NodeErrorLike {
  readonly code?: unknown
  readonly errno?: unknown
  readonly syscall?: unknown
  readonly message?: unknown
  readonly reason?: unknown
}

const codeOf = (error: unknown): string | undefined => {
  const code = (error as NodeErrorLike | undefined)?.code
  return typeof code === "string" ? code : undefined
}

/** The TLS problem a Node/OpenSSL error code stands for, if it is one. */
export const tlsProblemOf = (code: string | undefined): TlsProblem | undefined =>
  code === undefined ? undefined : (tlsProblemsByCode[code] ?? (code.startsWith("ERR_SSL_") ? "Other" : undefined))

/** Classifies any error thrown or emitted by node:net, node:tls, node:dgram or node:dns. */
export const classify = (error: unknown, context: ErrorContext): TransportError => {
  if (error instanceof TransportError) return error
  const code = codeOf(error)
  const errno = (error as NodeErrorLike | undefined)?.errno
  const where = context.address ?? context.url
  const tlsProblem = tlsProblemOf(code)
  if (tlsProblem !== undefined) {
    const detail = (error as NodeErrorLike | undefined)?.message
    return new TransportError({
      reason: "TlsHandshakeFailed",
      message: `TLS handshake with ${where ?? "the peer"} failed: ${(code !== undefined ? codeAdvice[code] : undefined) ?? tlsAdvice[tlsProblem]}${typeof detail === "string" && detail.length > 0 ? ` (${code}: ${detail})` : ` (${code})`}`,
      tlsProblem,
      ...optional({ url: context.url, address: context.address, code }),
      operation: context.operation,
      cause: error
    })
  }
  const reason: TransportErrorReason = (code !== undefined ? osReasons[code] : undefined) ?? "Unknown"
  const text =
    describeOs[reason] ?? (error instanceof Error ? error.message : typeof error === "string" ? error : "unknown error")
  return new TransportError({
    reason,
    message: `${`${context.operation} ${where ?? ""}`.trim()}: ${text}${code !== undefined ? ` (${code})` : ""}`,
    ...optional({ url: context.url, address: context.address, code }),
    ...(typeof errno === "number" ? { errno: Math.abs(errno) } : {}),
    operation: context.operation,
    cause: error
  })
}

/** Drops undefined fields, for `exactOptionalPropertyTypes`. */
export const optional = <A extends Record<string, unknown>>(
  fields: A
): { [K in keyof A]?: Exclude<A[K], undefined> } => {
  const out: Record<string, unknown> = {}
  for (const key in fields) if (fields[key] !== undefined) out[key] = fields[key]
  return out as { [K in keyof A]?: Exclude<A[K], undefined> }
}

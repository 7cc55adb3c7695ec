/**
 * What can go wrong in a STARTTLS dialogue, named after the attack or failure it stands for, so that a caller (and a
 * log reader) can tell a downgrade attempt from a slow server.
 */
import { TransportError } from "@netdial/transport"
import { Schema } from "effect"

export const startTlsErrorReasons = [
  /** The server did not advertise the upgrade (STRIPTLS, or a server without TLS). */
  "CapabilityMissing",
  /** The server answered the upgrade command with a refusal (454, NO, -ERR, N, <failure/>, resultCode ≠ 0, 691…). */
  "Refused",
  /** A reply that is malformed, has the wrong tag/code, or does not fit the protocol. */
  "UnexpectedReply",
  /** Bytes arrived after the upgrade reply and before the handshake: response injection. The connection is closed. */
  "Injection",
  /** IMAP PREAUTH (or the like): the server skipped authentication in plaintext, so STARTTLS is impossible. */
  "PreAuth",
  /** The server closed the connection during the dialogue. */
  "Closed",
  /** A step did not finish in time. */
  "TimedOut",
  /** The TLS handshake failed: `cause` is the `TransportError` (with its `tlsProblem`). */
  "TlsFailed",
  /** The server said it is not ready (SMTP 554, NNTP 400/502, FTP 421, IMAP BYE…). */
  "ServiceUnavailable",
  /** A reply or line exceeded the size limit (a server cannot make the client buffer without bound). */
  "ReplyTooLong",
  /** Bad options, or a protocol name netdial does not know. */
  "BadOption"
] as const

export type StartTlsErrorReason = (typeof startTlsErrorReasons)[number]

export class StartTlsError extends Schema.TaggedError<StartTlsError>()("StartTlsError", {
  reason: Schema.Literals(startTlsErrorReasons),
  /** `smtp`, `imap`, … */
  protocol: Schema.String,
  /** The dialogue step: `greeting`, `capabilities`, `upgrade`, `handshake`, `rediscover`… */
  step: Schema.String,
  message: Schema.String,
  /** The offending reply, shortened and with control characters escaped; never shown as trusted text. */
  reply: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect())
}) {}

/** Wraps a transport failure (TLS handshake, reset, timeout) in the dialogue's terms. */
export const fromTransport = (protocol: string, step: string, error: TransportError): StartTlsError =>
  new StartTlsError({
    reason:
      error.reason === "TimedOut"
        ? "TimedOut"
        : error.reason === "UnexpectedPlaintext"
          ? "Injection"
          : error.reason === "ConnectionReset" || error.reason === "Closed"
            ? "Closed"
            : error.reason === "BadOption"
              ? "BadOption"
              : "TlsFailed",
    protocol,
    step,
    message: `${protocol} ${step}: ${error.message}`,
    cause: error
  })

/** A reply as it may appear in an error: at most 200 characters, control characters escaped. */
export const showReply = (text: string): string => {
  const short = text.length > 200 ? `${text.slice(0, 200)}…` : text
  return short.replace(/[\u0000-\u001f\u007f]/g, (c) =>
    c === "\r" ? "\\r" : c === "\n" ? "\\n" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`
  )
}

export const isTransportError = (u: unknown): u is TransportError => u instanceof TransportError

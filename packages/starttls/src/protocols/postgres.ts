/**
 * PostgreSQL SSLRequest (frontend/backend protocol, "SSL Session Encryption"): the client speaks first with the
 * 8 bytes `00 00 00 08 04 d2 16 2f` and reads exactly one byte back.
 *
 * - `S`: TLS. Any byte received after it is a man in the middle's (CVE-2021-23222): `Injection`, connection closed.
 * - `N`: refused (`Refused`, or `encrypted: false` when opportunistic: the caller then sends its StartupMessage in
 *   plaintext; bytes after the `N` are refused the same way).
 * - `E`: an ErrorResponse from a server too old to know SSLRequest. Its text is never read or shown: it came in
 *   plaintext and may be an attacker's (CVE-2024-10977).
 *
 * PostgreSQL announces nothing before the StartupMessage, so `capabilities` are empty and `capabilitiesBeforeTls`
 * is `["ssl"]` after an `S`. After `startTls` the caller sends the StartupMessage (protocol 3.0) over TLS. PG 17's
 * direct TLS (ALPN `postgresql`) uses the same port, so there is no separate implicit port.
 */
import { Effect } from "effect"
import type { DialogueOptions, DialogueResult, Protocol } from "../Protocol.ts"
import type { Session } from "../Session.ts"
import { StartTlsError, type StartTlsErrorReason } from "../StartTlsError.ts"

const NAME = "postgres"

/** Int32 length 8, Int32 80877103. */
export const sslRequest: Uint8Array = Uint8Array.of(0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f)

const failure = (reason: StartTlsErrorReason, step: string, message: string): StartTlsError =>
  new StartTlsError({ reason, protocol: NAME, step, message: `${NAME} ${step}: ${message}` })

const startTls = (session: Session, options: DialogueOptions) =>
  Effect.gen(function* () {
    yield* session.write(sslRequest, "upgrade")
    const [answer] = yield* session.readBytes(1, "upgrade")
    if (answer === 0x53) {
      const tls = yield* session.upgrade(options.tls)
      return {
        protocol: NAME,
        encrypted: true,
        tls,
        capabilities: [],
        capabilitiesBeforeTls: ["ssl"]
      } satisfies DialogueResult
    }
    if (answer === 0x4e) {
      if (session.buffered().length > 0) {
        const extra = session.buffered().length
        yield* session.connection().close
        return yield* failure(
          "Injection",
          "upgrade",
          `${extra} byte(s) arrived after the server's 'N'; the server waits for the StartupMessage, so they can only be injected; the connection was closed`
        )
      }
      if (options.policy === "opportunistic") {
        return {
          protocol: NAME,
          encrypted: false,
          tls: undefined,
          capabilities: [],
          capabilitiesBeforeTls: []
        } satisfies DialogueResult
      }
      return yield* failure("Refused", "upgrade", "the server answered the SSLRequest with 'N' (no TLS)")
    }
    if (answer === 0x45) {
      yield* session.connection().close
      return yield* failure(
        "UnexpectedReply",
        "upgrade",
        "the server answered the SSLRequest with an ErrorResponse (a server that predates SSLRequest, or a man in the middle); its text is not shown because it arrived unauthenticated (CVE-2024-10977)"
      )
    }
    yield* session.connection().close
    return yield* failure(
      "UnexpectedReply",
      "upgrade",
      `the server answered the SSLRequest with byte 0x${answer.toString(16).padStart(2, "0")}, not 'S' or 'N'`
    )
  })

const discover = (session: Session, _options: DialogueOptions) =>
  Effect.sync((): DialogueResult => {
    const tls = session.connection().tls
    return { protocol: NAME, encrypted: tls !== undefined, tls, capabilities: [], capabilitiesBeforeTls: [] }
  })

/** PostgreSQL: SSLRequest on 5432. */
export const postgres: Protocol = {
  name: NAME,
  plainPort: 5432,
  implicitPort: undefined,
  description: "PostgreSQL SSLRequest (00 00 00 08 04 d2 16 2f) → 'S'",
  startTls,
  discover
}

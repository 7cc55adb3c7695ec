/**
 * LDAP StartTLS (RFC 4511 §4.14, RFC 4513 §3): the client speaks first with the ExtendedRequest
 * `1.3.6.1.4.1.1466.20037` as message 1, alone; the answer is one LDAPMessage, parsed as BER in general (long-form
 * lengths, optional controls), which must be message 1 and an ExtendedResponse ([APPLICATION 24]). resultCode 0 is
 * success (a responseName, when present, must be the StartTLS OID); anything else is a refusal named after its code
 * (`operationsError (1)`, `protocolError (2)`, `unavailable (52)`…). A Notice of Disconnection (message 0) ends the
 * dialogue. Nothing may follow the response before the handshake.
 *
 * LDAP announces nothing before a request, so `capabilities` are empty; a caller that needs the SASL mechanisms
 * reads the root DSE over TLS. After `startTls` the caller continues with message ID 2 (a Bind, usually).
 */
import { Effect } from "effect"
import type { DialogueOptions, DialogueResult, Protocol } from "../Protocol.ts"
import type { Session } from "../Session.ts"
import { StartTlsError, type StartTlsErrorReason, showReply } from "../StartTlsError.ts"
import {
  decodeAll,
  decodeHeader,
  decodeInteger,
  decodeTlv,
  encodeInteger,
  encodeTlv,
  type Tlv
} from "./internal/ber.ts"

const NAME = "ldap"
export const startTlsOid = "1.3.6.1.4.1.1466.20037"
const noticeOfDisconnectionOid = "1.3.6.1.4.1.1466.20036"

/** The request: SEQUENCE { messageID 1, [APPLICATION 23] { [0] "1.3.6.1.4.1.1466.20037" } } (31 bytes). */
export const startTlsRequest: Uint8Array = encodeTlv(0x30, [
  encodeInteger(1),
  encodeTlv(0x77, encodeTlv(0x80, new TextEncoder().encode(startTlsOid)))
])

/** LDAP result codes (RFC 4511 Appendix A, RFC 3909 and RFC 4370 additions). */
export const resultCodeNames: Readonly<Record<number, string>> = {
  0: "success",
  1: "operationsError",
  2: "protocolError",
  3: "timeLimitExceeded",
  4: "sizeLimitExceeded",
  5: "compareFalse",
  6: "compareTrue",
  7: "authMethodNotSupported",
  8: "strongerAuthRequired",
  10: "referral",
  11: "adminLimitExceeded",
  12: "unavailableCriticalExtension",
  13: "confidentialityRequired",
  14: "saslBindInProgress",
  16: "noSuchAttribute",
  17: "undefinedAttributeType",
  18: "inappropriateMatching",
  19: "constraintViolation",
  20: "attributeOrValueExists",
  21: "invalidAttributeSyntax",
  32: "noSuchObject",
  33: "aliasProblem",
  34: "invalidDNSyntax",
  36: "aliasDereferencingProblem",
  48: "inappropriateAuthentication",
  49: "invalidCredentials",
  50: "insufficientAccessRights",
  51: "busy",
  52: "unavailable",
  53: "unwillingToPerform",
  54: "loopDetect",
  64: "namingViolation",
  65: "objectClassViolation",
  66: "notAllowedOnNonLeaf",
  67: "notAllowedOnRDN",
  68: "entryAlreadyExists",
  69: "objectClassModsProhibited",
  71: "affectsMultipleDSAs",
  80: "other",
  118: "canceled",
  119: "noSuchOperation",
  120: "tooLate",
  121: "cannotCancel",
  122: "assertionFailed",
  123: "authorizationDenied"
}

export const resultCodeName = (code: number): string => `${resultCodeNames[code] ?? "unknown"} (${code})`

const failure = (reason: StartTlsErrorReason, step: string, message: string, reply?: string): StartTlsError =>
  new StartTlsError({
    reason,
    protocol: NAME,
    step,
    message: `${NAME} ${step}: ${message}`,
    ...(reply !== undefined ? { reply: showReply(reply) } : {})
  })

const hex = (bytes: Uint8Array) => Array.from(bytes.subarray(0, 64), (b) => b.toString(16).padStart(2, "0")).join(" ")

/** Longest response accepted (an ExtendedResponse with a long diagnostic and referrals is still small). */
const maxMessage = 64 * 1024

/** Reads one whole BER element from the session, consuming exactly its bytes. */
const readMessage = (session: Session, step: string) =>
  Effect.gen(function* () {
    while (true) {
      // an LDAPMessage is a SEQUENCE: anything else (an HTTP or SMTP banner…) fails now, not after a long wait
      if (session.buffered().length > 0 && session.buffered()[0] !== 0x30) {
        return yield* failure("UnexpectedReply", step, "not an LDAPMessage (SEQUENCE)", hex(session.buffered()))
      }
      const header = decodeHeader(session.buffered())
      if (header !== "incomplete") {
        if ("error" in header) {
          return yield* failure("UnexpectedReply", step, `malformed BER: ${header.error}`, hex(session.buffered()))
        }
        if (header.contentLength > maxMessage) {
          return yield* failure(
            "ReplyTooLong",
            step,
            `the server announced a ${header.contentLength}-byte message (at most ${maxMessage} accepted)`
          )
        }
        const total = header.headerLength + header.contentLength
        if (session.buffered().length >= total) return session.consume(total)
      }
      yield* session.readMore(step)
    }
  })

interface ExtendedResponse {
  readonly messageId: number
  readonly resultCode: number
  readonly diagnosticMessage: string
  readonly responseName: string | undefined
}

const decoder = new TextDecoder()

/** Parses an LDAPMessage carrying an ExtendedResponse; a string says what is wrong. */
export const parseExtendedResponse = (bytes: Uint8Array): ExtendedResponse | string => {
  const message = decodeTlv(bytes)
  if (message === "incomplete") return "a truncated message"
  if ("error" in message) return message.error
  if (message.identifier !== 0x30) return "not an LDAPMessage (SEQUENCE)"
  const parts = decodeAll(message.content)
  if ("error" in parts) return parts.error
  const [id, op, ...rest] = parts
  if (id === undefined || id.identifier !== 0x02) return "no messageID"
  const messageId = decodeInteger(id.content)
  if (messageId === undefined || messageId < 0) return "a malformed messageID"
  if (op === undefined) return "no protocolOp"
  if (rest.some((p) => p.identifier !== 0xa0) || rest.length > 1) return "unexpected elements after the protocolOp"
  if (op.tagClass !== "application" || op.tagNumber !== 24 || !op.constructed) {
    return `a protocolOp [APPLICATION ${op.tagNumber}] where an ExtendedResponse [APPLICATION 24] was expected (message ${messageId})`
  }
  const fields = decodeAll(op.content)
  if ("error" in fields) return fields.error
  const [code, matchedDn, diagnostic, ...optional] = fields as ReadonlyArray<Tlv | undefined>
  if (code?.identifier !== 0x0a) return "no resultCode"
  const resultCode = decodeInteger(code.content)
  if (resultCode === undefined || resultCode < 0) return "a malformed resultCode"
  if (matchedDn?.identifier !== 0x04 || diagnostic?.identifier !== 0x04) return "no matchedDN/diagnosticMessage"
  let responseName: string | undefined
  let order = 0
  for (const field of optional) {
    const rank = field?.identifier === 0xa3 ? 1 : field?.identifier === 0x8a ? 2 : field?.identifier === 0x8b ? 3 : 0
    if (rank === 0 || rank <= order) return "an unexpected element in the ExtendedResponse"
    order = rank
    if (rank === 2) responseName = decoder.decode(field!.content)
  }
  return { messageId, resultCode, diagnosticMessage: decoder.decode(diagnostic.content), responseName }
}

const startTls = (session: Session, options: DialogueOptions) =>
  Effect.gen(function* () {
    const plaintext = {
      protocol: NAME,
      encrypted: false,
      tls: undefined,
      capabilities: [],
      capabilitiesBeforeTls: []
    } satisfies DialogueResult
    yield* session.write(startTlsRequest, "upgrade")
    const bytes = yield* readMessage(session, "upgrade")
    const response = parseExtendedResponse(bytes)
    if (typeof response === "string") return yield* failure("UnexpectedReply", "upgrade", response, hex(bytes))
    if (response.messageId === 0) {
      return yield* failure(
        "ServiceUnavailable",
        "upgrade",
        `the server sent an unsolicited notification (${response.responseName === noticeOfDisconnectionOid ? "Notice of Disconnection" : (response.responseName ?? "no name")}): ${resultCodeName(response.resultCode)}`,
        response.diagnosticMessage
      )
    }
    if (response.messageId !== 1) {
      return yield* failure(
        "UnexpectedReply",
        "upgrade",
        `a response to message ${response.messageId}; the StartTLS request was message 1`,
        hex(bytes)
      )
    }
    if (response.resultCode !== 0) {
      if (options.policy === "opportunistic") return plaintext
      return yield* failure(
        "Refused",
        "upgrade",
        `the server refused StartTLS: ${resultCodeName(response.resultCode)}`,
        response.diagnosticMessage
      )
    }
    if (response.responseName !== undefined && response.responseName !== startTlsOid) {
      return yield* failure(
        "UnexpectedReply",
        "upgrade",
        `a success response named ${showReply(response.responseName)}, not ${startTlsOid}`
      )
    }
    const tls = yield* session.upgrade(options.tls)
    return { ...plaintext, encrypted: true, tls } satisfies DialogueResult
  })

const discover = (session: Session, _options: DialogueOptions) =>
  Effect.sync((): DialogueResult => {
    const tls = session.connection().tls
    return { protocol: NAME, encrypted: tls !== undefined, tls, capabilities: [], capabilitiesBeforeTls: [] }
  })

/** LDAP: StartTLS on 389, ldaps on 636. */
export const ldap: Protocol = {
  name: NAME,
  plainPort: 389,
  implicitPort: 636,
  description: "LDAP (RFC 4511 §4.14): ExtendedRequest 1.3.6.1.4.1.1466.20037 → resultCode 0",
  startTls,
  discover
}

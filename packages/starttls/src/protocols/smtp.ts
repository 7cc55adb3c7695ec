/**
 * SMTP (RFC 5321, STARTTLS RFC 3207, submission RFC 6409 / 8314) and LMTP (RFC 2033): the same dialogue, with
 * `LHLO` for `EHLO`.
 *
 * ```
 * S: 220 mail.test.local ESMTP Postfix          (multi-line "220-…" allowed; anything else: ServiceUnavailable)
 * C: EHLO client.test                            (LMTP: LHLO)
 * S: 250-mail.test.local / 250-PIPELINING / … / 250-STARTTLS / … / 250 CHUNKING
 * C: STARTTLS                                    (alone: never pipelined, whatever PIPELINING says)
 * S: 220 2.0.0 Ready to start TLS                (exactly 220; 454/501/5xx: Refused)
 * == TLS ==                                      (Session.upgrade: any byte after the 220 is Injection)
 * C: EHLO client.test                            (everything learned before TLS is forgotten)
 * S: 250-mail.test.local / … / 250-AUTH PLAIN LOGIN / …
 * ```
 *
 * Replies are parsed strictly: each line is a three-digit code (2yz–5yz) then `-` (more lines follow), a space or
 * the end of the line (last line), and every line of a reply carries the same code. Anything else (`25O`, `250-` then
 * `251 `, a tab after the code) is `UnexpectedReply`. A reply may be split over many reads or arrive glued to others;
 * the `Session` buffer takes care of both, and before each command the buffer must be empty (a reply the client did
 * not ask for yet is refused as `UnexpectedReply` rather than taken as the answer to the next command).
 *
 * Capabilities are the EHLO lines after the first (which is the server's name, not an extension): the keyword in
 * upper case, then its parameters as sent, single-spaced (`SIZE 10240000`, `AUTH PLAIN LOGIN`, `STARTTLS`). Lines
 * whose keyword is not an `ehlo-keyword` (RFC 5321 §4.1.1.1) are skipped. Keywords are compared case-insensitively
 * and as whole tokens: `STARTTLSX` or `X-STARTTLS` is not `STARTTLS`.
 */
import { Effect } from "effect"
import type { DialogueOptions, DialogueResult, Protocol } from "../Protocol.ts"
import type { Session } from "../Session.ts"
import { StartTlsError, type StartTlsErrorReason, showReply } from "../StartTlsError.ts"

/** One SMTP reply: its code and the text of each line (after the code and separator). */
export interface Reply {
  readonly code: number
  readonly lines: ReadonlyArray<string>
  /** The reply as received, lines joined with CRLF (for error messages, through `showReply`). */
  readonly raw: string
}

/** A reply longer than this many lines is refused (`ReplyTooLong`): EHLO lists have a few dozen. */
export const maxReplyLines = 256

/** A reply longer than this many bytes in total is refused (`ReplyTooLong`). */
export const maxReplyBytes = 64 * 1024

const replyLine = /^([2-5][0-5][0-9])(?:([ -])(.*))?$/s

const ehloKeyword = /^[A-Za-z0-9][A-Za-z0-9-]*$/

/** EHLO/LHLO argument: a domain (letters, digits, `-`, `_`, dots) or an address literal (`[192.0.2.1]`, `[IPv6:…]`). */
const helloName = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,253}[A-Za-z0-9_.])?|\[(?:IPv6:)?[0-9A-Fa-f:.]{2,45}\])$/

const fail = (
  reason: StartTlsErrorReason,
  protocol: string,
  step: string,
  message: string,
  reply?: string
): Effect.Effect<never, StartTlsError> =>
  Effect.fail(
    new StartTlsError({
      reason,
      protocol,
      step,
      message: `${protocol} ${step}: ${message}`,
      ...(reply !== undefined ? { reply: showReply(reply) } : {})
    })
  )

/**
 * Reads one complete reply: lines until the first whose fourth character is a space (or that is only the code),
 * refusing malformed lines, mixed codes, and replies over `maxReplyLines` lines or `maxReplyBytes` bytes.
 */
export const readReply = (session: Session, step: string): Effect.Effect<Reply, StartTlsError> =>
  Effect.gen(function* () {
    const protocol = session.protocol
    const lines: Array<string> = []
    const raw: Array<string> = []
    let code: string | undefined
    let bytes = 0
    for (let n = 0; n < maxReplyLines; n++) {
      const line = yield* session.readLine(step)
      raw.push(line)
      bytes += line.length + 2
      if (bytes > maxReplyBytes) {
        return yield* fail("ReplyTooLong", protocol, step, `the reply exceeds ${maxReplyBytes} bytes`, raw.join("\r\n"))
      }
      const match = replyLine.exec(line)
      if (match === null) {
        return yield* fail(
          "UnexpectedReply",
          protocol,
          step,
          "malformed reply line (expected a 3-digit code 2yz-5yz, then a space, a dash or the end of the line)",
          raw.join("\r\n")
        )
      }
      if (code !== undefined && match[1] !== code) {
        return yield* fail(
          "UnexpectedReply",
          protocol,
          step,
          `a continuation line has code ${match[1]}, the reply started with ${code}`,
          raw.join("\r\n")
        )
      }
      code = match[1]!
      lines.push(match[3] ?? "")
      if (match[2] !== "-") return { code: Number(code), lines, raw: raw.join("\r\n") }
    }
    return yield* fail(
      "ReplyTooLong",
      protocol,
      step,
      `the reply has more than ${maxReplyLines} lines`,
      raw.slice(0, 5).join("\r\n")
    )
  })

/** The extensions of an EHLO/LHLO reply (every line but the first), normalised as described in the module doc. */
export const parseExtensions = (reply: Reply): ReadonlyArray<string> => {
  const extensions: Array<string> = []
  for (const line of reply.lines.slice(1)) {
    const tokens = line.trim().split(/[ \t]+/)
    const keyword = tokens[0] ?? ""
    if (!ehloKeyword.test(keyword)) continue
    extensions.push([keyword.toUpperCase(), ...tokens.slice(1)].join(" "))
  }
  return extensions
}

/** Whether `extensions` (as returned by `parseExtensions`) has `keyword`, compared case-insensitively as a token. */
export const hasExtension = (extensions: ReadonlyArray<string>, keyword: string): boolean => {
  const wanted = keyword.toUpperCase()
  return extensions.some((extension) => extension.split(" ")[0] === wanted)
}

/** Fails when the server sent bytes nobody asked for yet: they would be taken as the reply to the next command. */
const expectQuiet = (session: Session, step: string): Effect.Effect<void, StartTlsError> =>
  Effect.suspend(() => {
    const pending = session.buffered()
    return pending.length === 0
      ? Effect.void
      : fail(
          "UnexpectedReply",
          session.protocol,
          step,
          `the server sent ${pending.length} byte(s) before the command was sent (a reply nobody asked for)`,
          new TextDecoder().decode(pending.subarray(0, 200))
        )
  })

const checkHelloName = (protocol: string, name: string): Effect.Effect<void, StartTlsError> =>
  name.length <= 255 && helloName.test(name)
    ? Effect.void
    : fail(
        "BadOption",
        protocol,
        "options",
        `clientName must be a domain name or an address literal such as [192.0.2.1] (no spaces or line breaks), got ${JSON.stringify(showReply(name))}`
      )

interface Variant {
  readonly name: "smtp" | "lmtp"
  readonly hello: "EHLO" | "LHLO"
  readonly plainPort: number | undefined
  readonly implicitPort: number | undefined
  readonly description: string
}

const make = (variant: Variant): Protocol => {
  const { name, hello } = variant

  /** The greeting: 220, else ServiceUnavailable (554 "no service here", 421, anything else). */
  const greeting = (session: Session) =>
    Effect.gen(function* () {
      const reply = yield* readReply(session, "greeting")
      if (reply.code !== 220) {
        return yield* fail(
          "ServiceUnavailable",
          name,
          "greeting",
          `the server greeted with ${reply.code} instead of 220`,
          reply.raw
        )
      }
    })

  /** EHLO/LHLO: the reply (250 or a refusal), for the caller to judge. */
  const sendHello = (session: Session, options: DialogueOptions, step: string) =>
    Effect.gen(function* () {
      yield* expectQuiet(session, step)
      yield* session.write(`${hello} ${options.clientName}\r\n`, step)
      return yield* readReply(session, step)
    })

  /** EHLO/LHLO where only 250 will do (over TLS, and after implicit TLS). */
  const discoverStrict = (session: Session, options: DialogueOptions, step: string) =>
    Effect.gen(function* () {
      const reply = yield* sendHello(session, options, step)
      if (reply.code === 421) {
        return yield* fail("ServiceUnavailable", name, step, `${hello} answered 421 (closing)`, reply.raw)
      }
      if (reply.code !== 250) {
        return yield* fail("UnexpectedReply", name, step, `${hello} answered ${reply.code} instead of 250`, reply.raw)
      }
      if (session.buffered().length > 0) {
        return yield* fail(
          "UnexpectedReply",
          name,
          step,
          `the server sent more after the ${hello} reply`,
          new TextDecoder().decode(session.buffered().subarray(0, 200))
        )
      }
      return parseExtensions(reply)
    })

  const plaintextResult = (extensions: ReadonlyArray<string>): DialogueResult => ({
    protocol: name,
    encrypted: false,
    tls: undefined,
    capabilities: extensions,
    capabilitiesBeforeTls: extensions
  })

  const startTls = (session: Session, options: DialogueOptions): Effect.Effect<DialogueResult, StartTlsError> =>
    Effect.gen(function* () {
      yield* checkHelloName(name, options.clientName)
      yield* greeting(session)

      const helloReply = yield* sendHello(session, options, "capabilities")
      if (helloReply.code === 421) {
        return yield* fail("ServiceUnavailable", name, "capabilities", `${hello} answered 421`, helloReply.raw)
      }
      if (helloReply.code !== 250) {
        // No HELO fallback: without EHLO there is no STARTTLS (RFC 3207), and a failing EHLO is a classic STRIPTLS.
        if (options.policy === "opportunistic") return plaintextResult([])
        return yield* fail(
          "CapabilityMissing",
          name,
          "capabilities",
          `${hello} answered ${helloReply.code}, so STARTTLS cannot be negotiated (no ${hello === "EHLO" ? "HELO" : "plaintext"} fallback when TLS is required)`,
          helloReply.raw
        )
      }
      const before = parseExtensions(helloReply)
      if (!hasExtension(before, "STARTTLS")) {
        if (options.policy === "opportunistic") return plaintextResult(before)
        return yield* fail(
          "CapabilityMissing",
          name,
          "capabilities",
          `the server does not offer STARTTLS (a server without TLS, or a man in the middle removing it); TLS is required, so nothing more is sent`,
          helloReply.raw
        )
      }

      // STARTTLS alone: nothing pipelined after it, even when PIPELINING is advertised (RFC 3207 §4.2 / CVE-2011-0411).
      yield* expectQuiet(session, "upgrade")
      yield* session.write("STARTTLS\r\n", "upgrade")
      const reply = yield* readReply(session, "upgrade")
      if (reply.code !== 220) {
        if (reply.code === 421) {
          return yield* fail("ServiceUnavailable", name, "upgrade", "STARTTLS answered 421 (closing)", reply.raw)
        }
        if (reply.code >= 400) {
          if (options.policy === "opportunistic") return plaintextResult(before)
          return yield* fail("Refused", name, "upgrade", `the server refused STARTTLS with ${reply.code}`, reply.raw)
        }
        return yield* fail(
          "UnexpectedReply",
          name,
          "upgrade",
          `STARTTLS answered ${reply.code}; only 220 starts TLS`,
          reply.raw
        )
      }

      // Refuses (and closes) if a single byte follows the 220 in the buffer; Tls.upgrade refuses bytes Node holds.
      const tls = yield* session.upgrade(options.tls)

      // RFC 3207 §4.2: forget everything learned in plaintext and ask again.
      const after = yield* discoverStrict(session, options, "rediscover")
      return { protocol: name, encrypted: true, tls, capabilities: after, capabilitiesBeforeTls: before }
    })

  const discover = (session: Session, options: DialogueOptions): Effect.Effect<DialogueResult, StartTlsError> =>
    Effect.gen(function* () {
      yield* checkHelloName(name, options.clientName)
      const tls = session.connection().tls
      if (tls === undefined && options.policy === "required") {
        return yield* fail(
          "BadOption",
          name,
          "discover",
          "discovery without STARTTLS needs a TLS connection (tls://) when TLS is required; this one is plaintext"
        )
      }
      yield* greeting(session)
      const capabilities = yield* discoverStrict(session, options, "capabilities")
      return tls === undefined
        ? plaintextResult(capabilities)
        : { protocol: name, encrypted: true, tls, capabilities, capabilitiesBeforeTls: [] }
    })

  return {
    name,
    plainPort: variant.plainPort,
    implicitPort: variant.implicitPort,
    description: variant.description,
    startTls,
    discover
  }
}

/** SMTP submission: STARTTLS on 587 (RFC 6409), implicit TLS on 465 "submissions" (RFC 8314). Port 25 works too. */
export const smtp: Protocol = make({
  name: "smtp",
  hello: "EHLO",
  plainPort: 587,
  implicitPort: 465,
  description: "SMTP: EHLO, STARTTLS → 220, EHLO again over TLS (RFC 5321, 3207); implicit TLS on 465 (RFC 8314)"
})

/** LMTP: as SMTP with LHLO; no standard port (often 24 or a unix socket) and no implicit-TLS form. */
export const lmtp: Protocol = make({
  name: "lmtp",
  hello: "LHLO",
  plainPort: undefined,
  implicitPort: undefined,
  description: "LMTP: LHLO, STARTTLS → 220, LHLO again over TLS (RFC 2033, 3207)"
})

/**
 * Shared pieces of the line-based dialogues (IMAP, POP3, NNTP, ManageSieve, FTP): errors in the dialogue's terms,
 * bounded multi-line reads, case-insensitive keyword matching, the opportunistic fallback and the two result shapes.
 */
import type { TlsDetails } from "@netdial/transport"
import { Effect } from "effect"
import type { DialogueOptions, DialogueResult, ProtocolName } from "../../Protocol.ts"
import type { Session } from "../../Session.ts"
import { StartTlsError, type StartTlsErrorReason, showReply } from "../../StartTlsError.ts"

/** The most a single reply (all its lines and literals together) may carry, in bytes (or characters). */
export const replyLimit = 256 * 1024

/** A `StartTlsError` for `protocol` at `step`; `reply` is shortened and escaped with `showReply`. */
export const dialogueError = (
  protocol: ProtocolName,
  reason: StartTlsErrorReason,
  step: string,
  message: string,
  reply?: string | undefined
): StartTlsError =>
  new StartTlsError({
    reason,
    protocol,
    step,
    message: `${protocol} ${step}: ${message}`,
    ...(reply === undefined ? {} : { reply: showReply(reply) })
  })

/** Counts what one reply has delivered so far and fails with `ReplyTooLong` past `replyLimit`. */
export interface Budget {
  readonly charge: (n: number) => Effect.Effect<void, StartTlsError>
}

export const makeBudget = (protocol: ProtocolName, step: string, limit: number = replyLimit): Budget => {
  let used = 0
  return {
    charge: (n) =>
      Effect.suspend(() => {
        used += n
        return used > limit
          ? Effect.fail(
              dialogueError(
                protocol,
                "ReplyTooLong",
                step,
                `the reply exceeds ${limit} bytes; a reply cannot be that long`
              )
            )
          : Effect.void
      })
  }
}

/** Writes one command line (CRLF added). */
export const sendLine = (session: Session, command: string, step: string): Effect.Effect<void, StartTlsError> =>
  session.write(`${command}\r\n`, step)

/** Reads one line and charges it (plus its line end) to `budget`. */
export const readCharged = (session: Session, step: string, budget: Budget): Effect.Effect<string, StartTlsError> =>
  Effect.tap(session.readLine(step), (line) => budget.charge(line.length + 2))

/**
 * Reads the body of a multi-line response that ends with a line holding a single `.` (POP3 CAPA, NNTP
 * CAPABILITIES), undoing the dot-stuffing: a line starting with `.` loses that dot.
 */
export const readDotTerminated = (
  session: Session,
  protocol: ProtocolName,
  step: string
): Effect.Effect<ReadonlyArray<string>, StartTlsError> =>
  Effect.gen(function* () {
    const budget = makeBudget(protocol, step)
    const lines: Array<string> = []
    while (true) {
      const line = yield* readCharged(session, step, budget)
      if (line === ".") return lines
      lines.push(unstuff(line))
    }
  })

/** Undoes dot-stuffing on one line of a multi-line response (`..foo` → `.foo`). */
export const unstuff = (line: string): string => (line.startsWith(".") ? line.slice(1) : line)

/** The first whitespace-separated word of a line. */
export const firstWord = (line: string): string => line.trim().split(/\s+/, 1)[0] ?? ""

/** `true` when one of `lines` starts with `keyword` as a whole word, compared without regard to case. */
export const hasKeyword = (lines: ReadonlyArray<string>, keyword: string): boolean => {
  const wanted = keyword.toUpperCase()
  return lines.some((line) => firstWord(line).toUpperCase() === wanted)
}

/** A three-digit reply code followed by a space or the end of the line (`382 Begin…`), else `undefined`. */
export const replyCode = (line: string): number | undefined => {
  const match = /^([0-9]{3})(?: |$)/.exec(line)
  return match === null ? undefined : Number(match[1])
}

/** 4yz (transient) and 5yz (permanent) are the negative completion replies in SMTP, FTP and NNTP alike. */
export const isNegative = (code: number): boolean => code >= 400 && code <= 599

/**
 * Before the upgrade command: nothing may be waiting unread. In these request/response protocols the server has
 * no business sending anything between a complete reply and our next command; bytes there could be a reply forged
 * ahead of time (an IMAP `a2 OK` before `a2 STARTTLS` was sent). Best effort: it sees what has arrived already.
 */
export const ensureQuiet = (
  session: Session,
  protocol: ProtocolName,
  step: string
): Effect.Effect<void, StartTlsError> =>
  Effect.suspend(() => {
    const pending = session.buffered()
    return pending.length === 0
      ? Effect.void
      : Effect.fail(
          dialogueError(
            protocol,
            "UnexpectedReply",
            step,
            `${pending.length} unsolicited byte(s) arrived before the upgrade command was sent`,
            new TextDecoder().decode(pending.subarray(0, 200))
          )
        )
  })

export const encryptedResult = (
  protocol: ProtocolName,
  tls: TlsDetails | undefined,
  capabilities: ReadonlyArray<string>,
  capabilitiesBeforeTls: ReadonlyArray<string>
): DialogueResult => ({ protocol, encrypted: true, tls, capabilities, capabilitiesBeforeTls })

export const plaintextResult = (protocol: ProtocolName, capabilities: ReadonlyArray<string>): DialogueResult => ({
  protocol,
  encrypted: false,
  tls: undefined,
  capabilities,
  capabilitiesBeforeTls: capabilities
})

/**
 * The server does not offer the upgrade (`CapabilityMissing`), refused it (`Refused`) or cannot do it (`PreAuth`):
 * an error under the `required` policy; under `opportunistic` the dialogue ends in plaintext with the plaintext
 * capabilities (untrusted).
 */
export const declined = (
  options: DialogueOptions,
  protocol: ProtocolName,
  reason: "CapabilityMissing" | "Refused" | "PreAuth",
  step: string,
  message: string,
  capabilities: ReadonlyArray<string>,
  reply?: string | undefined
): Effect.Effect<DialogueResult, StartTlsError> =>
  options.policy === "opportunistic"
    ? Effect.succeed(plaintextResult(protocol, capabilities))
    : Effect.fail(dialogueError(protocol, reason, step, message, reply))

/**
 * The start of `discover`: the session must already be TLS (a `tls://` connection, or one upgraded before). Under
 * `required` a plaintext session is refused (`BadOption`) rather than reported as `encrypted: false`.
 */
export const implicitTls = (
  session: Session,
  protocol: ProtocolName,
  options: DialogueOptions
): Effect.Effect<TlsDetails | undefined, StartTlsError> =>
  Effect.suspend(() => {
    const tls = session.connection().tls
    if (tls === undefined && options.policy === "required") {
      return Effect.fail(
        dialogueError(
          protocol,
          "BadOption",
          "discover",
          "discovery without STARTTLS needs a TLS connection (tls://) when TLS is required; this one is plaintext"
        )
      )
    }
    return Effect.succeed(tls)
  })

/** The result of `discover`: what was found, over TLS when the connection is TLS. */
export const discoveredResult = (
  protocol: ProtocolName,
  tls: TlsDetails | undefined,
  capabilities: ReadonlyArray<string>
): DialogueResult =>
  tls === undefined
    ? plaintextResult(protocol, capabilities)
    : { protocol, encrypted: true, tls, capabilities, capabilitiesBeforeTls: [] }

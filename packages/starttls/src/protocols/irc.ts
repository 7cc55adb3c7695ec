/**
 * IRC STARTTLS (the IRCv3 `tls` extension, deprecated in favour of STS and port 6697 but still served by InspIRCd,
 * among others). The client speaks first, before registering:
 *
 * 1. `CAP LS 302` (discovery): the capabilities are the tokens of the `CAP * LS` lines, `*` continuations joined.
 *    A server without CAP (`421`/`451`/`410`) is tried with STARTTLS anyway; one that lists capabilities without
 *    `tls` does not offer STARTTLS (`CapabilityMissing`, or `encrypted: false` when opportunistic).
 * 2. `STARTTLS`, alone. The answer is numeric `670`; `691` (TLS failed), `421` (unknown command) and `451` (not
 *    registered) are refusals. Server NOTICEs and other lines whose command is not numeric are skipped, as are
 *    informational `020`s; a `670` that arrives before STARTTLS was sent is an error.
 * 3. The TLS handshake (nothing may follow the `670`), then `CAP LS 302` again over TLS: those capabilities replace
 *    the plaintext ones.
 *
 * After `startTls` (and `discover`) capability negotiation is open (IRCv3: `CAP LS` suspends registration): the
 * caller sends `CAP REQ …` as it likes, `NICK`/`USER`, then `CAP END`.
 */
import { Effect } from "effect"
import type { DialogueOptions, DialogueResult, Protocol } from "../Protocol.ts"
import type { Session } from "../Session.ts"
import { StartTlsError, type StartTlsErrorReason, showReply } from "../StartTlsError.ts"

const NAME = "irc"

/** Lines read in one phase before giving up: a server cannot keep us reading notices forever. */
const maxLines = 256

const failure = (reason: StartTlsErrorReason, step: string, message: string, reply?: string): StartTlsError =>
  new StartTlsError({
    reason,
    protocol: NAME,
    step,
    message: `${NAME} ${step}: ${message}`,
    ...(reply !== undefined ? { reply: showReply(reply) } : {})
  })

export interface IrcMessage {
  readonly prefix: string | undefined
  /** Upper-cased; numerics stay three digits. */
  readonly command: string
  readonly params: ReadonlyArray<string>
}

/** Parses one line (RFC 1459 §2.3.1 with IRCv3 message tags); undefined for an empty line. */
export const parseLine = (line: string): IrcMessage | undefined => {
  let rest = line
  if (rest.startsWith("@")) {
    const space = rest.indexOf(" ")
    rest = space === -1 ? "" : rest.slice(space + 1)
  }
  rest = rest.replace(/^ +/, "")
  let prefix: string | undefined
  if (rest.startsWith(":")) {
    const space = rest.indexOf(" ")
    prefix = rest.slice(1, space === -1 ? undefined : space)
    rest = space === -1 ? "" : rest.slice(space + 1).replace(/^ +/, "")
  }
  if (rest === "") return undefined
  const params: Array<string> = []
  const trailingAt = rest.indexOf(" :")
  const head = trailingAt === -1 ? rest : rest.slice(0, trailingAt)
  const [command, ...middle] = head.split(" ").filter((t) => t !== "")
  params.push(...middle)
  if (trailingAt !== -1) params.push(rest.slice(trailingAt + 2))
  return { prefix, command: command.toUpperCase(), params }
}

const isNumeric = (command: string) => /^[0-9]{3}$/.test(command)

/** A few notices and the odd `020` may come first; a line with a prefix and a numeric second token is a reply. */
const isSkippable = (message: IrcMessage) => !isNumeric(message.command) || message.command === "020"

/**
 * Sends `CAP LS 302` and reads the whole listing. Returns the capability tokens (`sasl=PLAIN,EXTERNAL`, `tls`…), or
 * undefined when the server does not know CAP.
 */
const capLs = (session: Session, step: string) =>
  Effect.gen(function* () {
    yield* session.write("CAP LS 302\r\n", step)
    const capabilities: Array<string> = []
    for (let n = 0; n < maxLines; n++) {
      const line = yield* session.readLine(step)
      const message = parseLine(line)
      if (message === undefined) continue
      if (message.command === "ERROR") {
        return yield* failure("ServiceUnavailable", step, "the server sent ERROR", message.params.at(-1) ?? line)
      }
      if (message.command === "CAP") {
        if (message.params[1]?.toUpperCase() !== "LS") continue
        const more = message.params.length >= 4 && message.params[2] === "*"
        const list = message.params[more ? 3 : 2] ?? ""
        for (const token of list.split(" ")) if (token !== "" && !capabilities.includes(token)) capabilities.push(token)
        if (!more) return capabilities
        continue
      }
      if (message.command === "421" || message.command === "451" || message.command === "410") return undefined
      if (message.command === "670" || message.command === "691") {
        return yield* failure("UnexpectedReply", step, "a STARTTLS reply before STARTTLS was sent", line)
      }
      // notices, PINGs, 020 and other chatter
    }
    return yield* failure("ReplyTooLong", step, `more than ${maxLines} lines without the end of the CAP LS reply`)
  })

/** Reads what is already buffered before STARTTLS goes out: a reply among it cannot be the answer to STARTTLS. */
const drainBuffered = (session: Session, step: string) =>
  Effect.gen(function* () {
    while (session.buffered().includes(0x0a)) {
      const line = yield* session.readLine(step)
      const message = parseLine(line)
      if (message === undefined) continue
      if (message.command === "ERROR") {
        return yield* failure("ServiceUnavailable", step, "the server sent ERROR", message.params.at(-1) ?? line)
      }
      if (isNumeric(message.command) && message.command !== "020") {
        return yield* failure("UnexpectedReply", step, "a numeric reply that arrived before STARTTLS was sent", line)
      }
    }
  })

const startTls = (session: Session, options: DialogueOptions) =>
  Effect.gen(function* () {
    const listed = yield* capLs(session, "capabilities")
    const before = listed ?? []
    const plaintext = {
      protocol: NAME,
      encrypted: false,
      tls: undefined,
      capabilities: before,
      capabilitiesBeforeTls: before
    } satisfies DialogueResult
    if (listed !== undefined && !listed.some((c) => c === "tls" || c.startsWith("tls="))) {
      if (options.policy === "opportunistic") return plaintext
      return yield* failure(
        "CapabilityMissing",
        "capabilities",
        "the server's CAP LS does not list tls (a server without STARTTLS, or a man in the middle stripping it)"
      )
    }
    yield* drainBuffered(session, "upgrade")
    yield* session.write("STARTTLS\r\n", "upgrade")
    for (let n = 0; ; n++) {
      if (n >= maxLines) {
        return yield* failure("ReplyTooLong", "upgrade", `more than ${maxLines} lines without a reply to STARTTLS`)
      }
      const line = yield* session.readLine("upgrade")
      const message = parseLine(line)
      if (message === undefined) continue
      if (message.command === "ERROR") {
        return yield* failure("ServiceUnavailable", "upgrade", "the server sent ERROR", message.params.at(-1) ?? line)
      }
      if (isSkippable(message)) continue
      if (message.command === "670") break
      if (message.command === "691" || message.command === "421" || message.command === "451") {
        if (options.policy === "opportunistic") return plaintext
        return yield* failure("Refused", "upgrade", `the server answered STARTTLS with ${message.command}`, line)
      }
      return yield* failure("UnexpectedReply", "upgrade", `numeric ${message.command} where 670 was expected`, line)
    }
    const tls = yield* session.upgrade(options.tls)
    const after = (yield* capLs(session, "rediscover")) ?? []
    return {
      protocol: NAME,
      encrypted: true,
      tls,
      capabilities: after,
      capabilitiesBeforeTls: before
    } satisfies DialogueResult
  })

const discover = (session: Session, _options: DialogueOptions) =>
  Effect.gen(function* () {
    const listed = (yield* capLs(session, "capabilities")) ?? []
    const tls = session.connection().tls
    return {
      protocol: NAME,
      encrypted: tls !== undefined,
      tls,
      capabilities: listed,
      capabilitiesBeforeTls: []
    } satisfies DialogueResult
  })

/** IRC: STARTTLS on 6667, TLS on 6697 (RFC 7194). */
export const irc: Protocol = {
  name: NAME,
  plainPort: 6667,
  implicitPort: 6697,
  description: "IRC (IRCv3 tls extension): CAP LS 302, STARTTLS → 670, then CAP LS 302 over TLS",
  startTls,
  discover
}

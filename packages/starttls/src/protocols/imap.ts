/**
 * IMAP STARTTLS (RFC 3501 §6.2.1 / 9051, RFC 2595 §3). Greeting `* OK` (`* PREAUTH`: STARTTLS is impossible;
 * `* BYE`: the server is not available), `a1 CAPABILITY`, `a2 STARTTLS` → `a2 OK` strictly, TLS, `a3 CAPABILITY`.
 * A response ends at the tagged line with our tag; untagged lines may carry `{n}` literals, which are read as data
 * so that nothing inside them is taken for a response. `[CAPABILITY …]` codes seen before TLS (in the greeting or
 * inside the STARTTLS OK) are ignored: the capabilities come from the CAPABILITY command only.
 */
import { Effect } from "effect"
import type { DialogueOptions, DialogueResult, Protocol } from "../Protocol.ts"
import type { Session } from "../Session.ts"
import type { StartTlsError } from "../StartTlsError.ts"
import {
  type Budget,
  declined,
  dialogueError,
  discoveredResult,
  encryptedResult,
  ensureQuiet,
  implicitTls,
  makeBudget,
  plaintextResult,
  readCharged,
  sendLine
} from "./internal/lines.ts"

const name = "imap" as const

/** One server line with its literals read in: `text` is the first physical line, `full` everything. */
export interface ImapLine {
  readonly text: string
  readonly full: string
}

/** The length of the literal announced at the end of a server line (`{12}`, `~{12}` for literal8), if any. */
export const literalLength = (line: string): number | undefined => {
  const match = /\{([0-9]{1,10})\+?\}$/.exec(line)
  return match === null ? undefined : Number(match[1])
}

/** The atoms of an untagged `* CAPABILITY …` line (without the word CAPABILITY), or `undefined` for other lines. */
export const parseCapabilityLine = (line: string): ReadonlyArray<string> | undefined => {
  const match = /^\* CAPABILITY(?: (.*))?$/i.exec(line)
  if (match === null) return undefined
  return (match[1] ?? "").split(" ").filter((atom) => atom.length > 0)
}

export type ImapStatus = "OK" | "NO" | "BAD"

/**
 * Classifies a server line against the tag we wait for: untagged (`* …`), continuation (`+ …`), our tagged status
 * (`OK`/`NO`/`BAD`, case-insensitive, as a whole word), or something else (another tag, garbage).
 */
export const classifyLine = (
  line: string,
  tag: string
):
  | { readonly kind: "untagged" }
  | { readonly kind: "continuation" }
  | { readonly kind: "tagged"; readonly status: ImapStatus }
  | { readonly kind: "unexpected" } => {
  if (line.startsWith("* ")) return { kind: "untagged" }
  if (line === "+" || line.startsWith("+ ")) return { kind: "continuation" }
  const match = /^(\S+) (OK|NO|BAD)(?: |$)/i.exec(line)
  if (match !== null && match[1] === tag) return { kind: "tagged", status: match[2]!.toUpperCase() as ImapStatus }
  return { kind: "unexpected" }
}

/** Reads one response line, following `{n}` literals (their bytes are read as data, never parsed as lines). */
const readResponseLine = (session: Session, step: string, budget: Budget): Effect.Effect<ImapLine, StartTlsError> =>
  Effect.gen(function* () {
    const text = yield* readCharged(session, step, budget)
    let full = text
    let current = text
    let length = literalLength(current)
    while (length !== undefined) {
      yield* budget.charge(length)
      const literal = yield* session.readBytes(length, step)
      current = yield* readCharged(session, step, budget)
      full = `${full}\r\n${new TextDecoder().decode(literal)}${current}`
      length = literalLength(current)
    }
    return { text, full }
  })

/**
 * Sends `tag command` and reads up to the tagged line with that tag. Untagged lines are collected; a `* BYE` means
 * the server is going away; a continuation or a line tagged otherwise is an `UnexpectedReply`.
 */
const command = (
  session: Session,
  tag: string,
  verb: string,
  step: string
): Effect.Effect<
  { readonly untagged: ReadonlyArray<string>; readonly status: ImapStatus; readonly line: string },
  StartTlsError
> =>
  Effect.gen(function* () {
    yield* sendLine(session, `${tag} ${verb}`, step)
    const budget = makeBudget(name, step)
    const untagged: Array<string> = []
    while (true) {
      const line = yield* readResponseLine(session, step, budget)
      const kind = classifyLine(line.text, tag)
      switch (kind.kind) {
        case "tagged":
          return { untagged, status: kind.status, line: line.full }
        case "untagged":
          if (/^\* BYE(?: |$)/i.test(line.text)) {
            return yield* dialogueError(name, "ServiceUnavailable", step, "the server said BYE", line.full)
          }
          untagged.push(line.text)
          break
        default:
          return yield* dialogueError(
            name,
            "UnexpectedReply",
            step,
            `expected untagged lines and then "${tag} OK|NO|BAD", got another line`,
            line.full
          )
      }
    }
  })

/** `tag CAPABILITY`: the atoms of the `* CAPABILITY` lines. */
const capability = (session: Session, tag: string, step: string): Effect.Effect<ReadonlyArray<string>, StartTlsError> =>
  Effect.gen(function* () {
    const response = yield* command(session, tag, "CAPABILITY", step)
    if (response.status !== "OK") {
      return yield* dialogueError(name, "UnexpectedReply", step, "CAPABILITY failed", response.line)
    }
    return response.untagged.flatMap((line) => parseCapabilityLine(line) ?? [])
  })

type Greeting = "OK" | "PREAUTH"

const greeting = (session: Session): Effect.Effect<Greeting, StartTlsError> =>
  Effect.gen(function* () {
    const line = yield* readResponseLine(session, "greeting", makeBudget(name, "greeting"))
    const match = /^\* (OK|PREAUTH|BYE)(?: |$)/i.exec(line.text)
    if (match === null) {
      return yield* dialogueError(name, "UnexpectedReply", "greeting", "expected * OK, * PREAUTH or * BYE", line.full)
    }
    const status = match[1]!.toUpperCase()
    if (status === "BYE") {
      return yield* dialogueError(name, "ServiceUnavailable", "greeting", "the server said BYE", line.full)
    }
    return status as Greeting
  })

const hasAtom = (atoms: ReadonlyArray<string>, atom: string) => atoms.some((a) => a.toUpperCase() === atom)

const startTls = (session: Session, options: DialogueOptions): Effect.Effect<DialogueResult, StartTlsError> =>
  Effect.gen(function* () {
    const status = yield* greeting(session)
    if (status === "PREAUTH") {
      // Already authenticated in plaintext: STARTTLS is illegal now. Fatal when TLS is required (without even
      // asking for capabilities); under `opportunistic` the session goes on in plaintext.
      if (options.policy === "required") {
        return yield* dialogueError(
          name,
          "PreAuth",
          "greeting",
          "the server greeted with PREAUTH (already authenticated in plaintext), so STARTTLS is not possible"
        )
      }
      return plaintextResult(name, yield* capability(session, "a1", "capabilities"))
    }
    const before = yield* capability(session, "a1", "capabilities")
    if (!hasAtom(before, "STARTTLS")) {
      return yield* declined(
        options,
        name,
        "CapabilityMissing",
        "capabilities",
        "the server does not advertise STARTTLS",
        before
      )
    }
    yield* ensureQuiet(session, name, "upgrade")
    const reply = yield* command(session, "a2", "STARTTLS", "upgrade")
    if (reply.status !== "OK") {
      return yield* declined(
        options,
        name,
        "Refused",
        "upgrade",
        `the server refused STARTTLS (${reply.status})`,
        before,
        reply.line
      )
    }
    const tls = yield* session.upgrade(options.tls)
    const after = yield* capability(session, "a3", "rediscover")
    return encryptedResult(name, tls, after, before)
  })

const discover = (session: Session, options: DialogueOptions): Effect.Effect<DialogueResult, StartTlsError> =>
  Effect.gen(function* () {
    const tls = yield* implicitTls(session, name, options)
    yield* greeting(session)
    const capabilities = yield* capability(session, "a1", "capabilities")
    return discoveredResult(name, tls, capabilities)
  })

export const imap: Protocol = {
  name,
  plainPort: 143,
  implicitPort: 993,
  description: "IMAP: a1 CAPABILITY, a2 STARTTLS → a2 OK, then CAPABILITY again over TLS (RFC 3501, 9051, 2595, 8314)",
  startTls,
  discover
}

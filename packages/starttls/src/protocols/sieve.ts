/**
 * ManageSieve STARTTLS (RFC 5804). The greeting is the capability block: one line per capability, a quoted name and
 * an optional quoted value, ending with `OK …` (`NO`/`BYE`: unavailable). `STARTTLS` → `OK` (`NO`: refused), TLS,
 * and then the server sends the capability block again without being asked: it is read before anything is sent
 * and replaces the plaintext one. Strings are quoted (with `\"` and `\\` escapes) or `{n}` literals; names and
 * response words are case-insensitive.
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
  readCharged,
  sendLine
} from "./internal/lines.ts"

const name = "sieve" as const

export type SieveToken =
  | { readonly kind: "atom"; readonly value: string }
  | { readonly kind: "string"; readonly value: string }
  /** A response code in parentheses, `(TAG "arg")`, kept as its inner text. */
  | { readonly kind: "code"; readonly value: string }

/**
 * Tokenizes one physical line. A `{n}` or `{n+}` literal must end the line: it is reported as `literal` (its
 * bytes follow the line end), with the tokens before it. Returns an error text for a malformed line.
 */
export const tokenizeLine = (
  line: string
):
  | { readonly tokens: ReadonlyArray<SieveToken>; readonly literal: number | undefined }
  | { readonly error: string } => {
  const tokens: Array<SieveToken> = []
  let at = 0
  while (at < line.length) {
    const c = line[at]
    if (c === " ") {
      at++
    } else if (c === '"') {
      let value = ""
      let i = at + 1
      for (; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === "\\") {
          i++
          if (i >= line.length) break
        }
        value += line[i]
      }
      if (i >= line.length) return { error: "unterminated quoted string" }
      tokens.push({ kind: "string", value })
      at = i + 1
    } else if (c === "{") {
      const match = /^\{([0-9]{1,10})\+?\}$/.exec(line.slice(at))
      if (match === null) return { error: "malformed literal" }
      return { tokens, literal: Number(match[1]) }
    } else if (c === "(") {
      let depth = 0
      let quoted = false
      let i = at
      for (; i < line.length; i++) {
        const d = line[i]
        if (quoted) {
          if (d === "\\") i++
          else if (d === '"') quoted = false
        } else if (d === '"') quoted = true
        else if (d === "(") depth++
        else if (d === ")" && --depth === 0) break
      }
      if (i >= line.length) return { error: "unterminated response code" }
      tokens.push({ kind: "code", value: line.slice(at + 1, i) })
      at = i + 1
    } else {
      let i = at
      while (i < line.length && line[i] !== " " && line[i] !== '"' && line[i] !== "(" && line[i] !== "{") i++
      tokens.push({ kind: "atom", value: line.slice(at, i) })
      at = i
    }
  }
  return { tokens, literal: undefined }
}

/** One logical response line: physical lines joined by literals, tokenized. */
const readTokens = (
  session: Session,
  step: string,
  budget: Budget
): Effect.Effect<{ readonly tokens: ReadonlyArray<SieveToken>; readonly text: string }, StartTlsError> =>
  Effect.gen(function* () {
    const tokens: Array<SieveToken> = []
    let text = ""
    while (true) {
      const line = yield* readCharged(session, step, budget)
      text += line
      const parsed = tokenizeLine(line)
      if ("error" in parsed) return yield* dialogueError(name, "UnexpectedReply", step, parsed.error, text)
      tokens.push(...parsed.tokens)
      if (parsed.literal === undefined) return { tokens, text }
      yield* budget.charge(parsed.literal)
      const literal = new TextDecoder().decode(yield* session.readBytes(parsed.literal, step))
      tokens.push({ kind: "string", value: literal })
      text += `\r\n${literal}`
    }
  })

type Status = "OK" | "NO" | "BYE"

/** The response word of a line (`OK`, `NO`, `BYE`, any case), if its first token is one. */
const statusOf = (tokens: ReadonlyArray<SieveToken>): Status | undefined => {
  const first = tokens[0]
  if (first?.kind !== "atom") return undefined
  const word = first.value.toUpperCase()
  return word === "OK" || word === "NO" || word === "BYE" ? word : undefined
}

/**
 * A capability as one string: the name, then the value if there is a non-empty one (`SIEVE fileinto reject`,
 * `STARTTLS`; Dovecot's `"SASL" ""` gives `SASL`).
 */
export const capabilityOf = (tokens: ReadonlyArray<SieveToken>): string | undefined => {
  const [capability, value, ...rest] = tokens
  if (capability?.kind !== "string" || rest.length > 0) return undefined
  if (value?.kind === "string") return value.value === "" ? capability.value : `${capability.value} ${value.value}`
  return value === undefined ? capability.value : undefined
}

/**
 * Reads a capability block up to its status line. `NO`/`BYE` there means the server is not available; a line that
 * is neither a capability nor a status is an `UnexpectedReply`.
 */
const capabilityBlock = (session: Session, step: string): Effect.Effect<ReadonlyArray<string>, StartTlsError> =>
  Effect.gen(function* () {
    const budget = makeBudget(name, step)
    const capabilities: Array<string> = []
    while (true) {
      const line = yield* readTokens(session, step, budget)
      const status = statusOf(line.tokens)
      if (status === "OK") return capabilities
      if (status !== undefined) {
        return yield* dialogueError(name, "ServiceUnavailable", step, `the server said ${status}`, line.text)
      }
      const capability = capabilityOf(line.tokens)
      if (capability === undefined) {
        return yield* dialogueError(name, "UnexpectedReply", step, "expected a capability line or OK", line.text)
      }
      capabilities.push(capability)
    }
  })

const hasCapability = (capabilities: ReadonlyArray<string>, wanted: string) =>
  capabilities.some((capability) => capability.split(" ", 1)[0]!.toUpperCase() === wanted)

const startTls = (session: Session, options: DialogueOptions): Effect.Effect<DialogueResult, StartTlsError> =>
  Effect.gen(function* () {
    const before = yield* capabilityBlock(session, "greeting")
    if (!hasCapability(before, "STARTTLS")) {
      return yield* declined(
        options,
        name,
        "CapabilityMissing",
        "greeting",
        "the server does not advertise STARTTLS",
        before
      )
    }
    yield* ensureQuiet(session, name, "upgrade")
    yield* sendLine(session, "STARTTLS", "upgrade")
    const reply = yield* readTokens(session, "upgrade", makeBudget(name, "upgrade"))
    const status = statusOf(reply.tokens)
    if (status === "NO") {
      return yield* declined(options, name, "Refused", "upgrade", "the server refused STARTTLS", before, reply.text)
    }
    if (status === "BYE") {
      return yield* dialogueError(name, "ServiceUnavailable", "upgrade", "the server said BYE", reply.text)
    }
    if (status !== "OK") {
      return yield* dialogueError(name, "UnexpectedReply", "upgrade", "expected OK or NO to STARTTLS", reply.text)
    }
    const tls = yield* session.upgrade(options.tls)
    // RFC 5804 §2.2: the server sends its capabilities again right after the handshake; read them before sending.
    const after = yield* capabilityBlock(session, "rediscover")
    return encryptedResult(name, tls, after, before)
  })

const discover = (session: Session, options: DialogueOptions): Effect.Effect<DialogueResult, StartTlsError> =>
  Effect.gen(function* () {
    const tls = yield* implicitTls(session, name, options)
    return discoveredResult(name, tls, yield* capabilityBlock(session, "greeting"))
  })

export const sieve: Protocol = {
  name,
  plainPort: 4190,
  implicitPort: undefined,
  description:
    "ManageSieve: capabilities in the greeting, STARTTLS → OK, then the capabilities the server resends over TLS (RFC 5804)",
  startTls,
  discover
}

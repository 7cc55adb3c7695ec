/**
 * POP3 STLS (RFC 1939, 2449 CAPA, 2595 §4). Greeting `+OK` (its APOP timestamp is plaintext data and is dropped),
 * `CAPA` (multi-line, ends with `.`, dot-stuffed), `STLS` → `+OK` strictly (`-ERR`: refused), TLS, `CAPA` again.
 */
import { Effect } from "effect"
import type { DialogueOptions, DialogueResult, Protocol } from "../Protocol.ts"
import type { Session } from "../Session.ts"
import type { StartTlsError } from "../StartTlsError.ts"
import {
  declined,
  dialogueError,
  discoveredResult,
  encryptedResult,
  ensureQuiet,
  hasKeyword,
  implicitTls,
  readDotTerminated,
  sendLine
} from "./internal/lines.ts"

const name = "pop3" as const

/** The status of a POP3 reply line: `+OK` or `-ERR` as a whole word (`+OKAY` is neither), else `undefined`. */
export const status = (line: string): "+OK" | "-ERR" | undefined => {
  const match = /^(\+OK|-ERR)(?: |$)/i.exec(line)
  return match === null ? undefined : (match[1]!.toUpperCase() as "+OK" | "-ERR")
}

const greeting = (session: Session): Effect.Effect<void, StartTlsError> =>
  Effect.gen(function* () {
    // The greeting (and any APOP <timestamp> in it) is not kept: it is plaintext data a man in the middle can set.
    const line = yield* session.readLine("greeting")
    const reply = status(line)
    if (reply === "-ERR")
      return yield* dialogueError(name, "ServiceUnavailable", "greeting", "the server said -ERR", line)
    if (reply !== "+OK") return yield* dialogueError(name, "UnexpectedReply", "greeting", "expected +OK", line)
  })

/** `CAPA`: the capability lines; an empty list when the server has no CAPA (`-ERR`). */
const capa = (session: Session, step: string): Effect.Effect<ReadonlyArray<string>, StartTlsError> =>
  Effect.gen(function* () {
    yield* sendLine(session, "CAPA", step)
    const line = yield* session.readLine(step)
    const reply = status(line)
    if (reply === "-ERR") return []
    if (reply !== "+OK")
      return yield* dialogueError(name, "UnexpectedReply", step, "expected +OK or -ERR to CAPA", line)
    const lines = yield* readDotTerminated(session, name, step)
    return lines.map((capability) => capability.trim()).filter((capability) => capability.length > 0)
  })

const startTls = (session: Session, options: DialogueOptions): Effect.Effect<DialogueResult, StartTlsError> =>
  Effect.gen(function* () {
    yield* greeting(session)
    const before = yield* capa(session, "capabilities")
    if (!hasKeyword(before, "STLS")) {
      return yield* declined(
        options,
        name,
        "CapabilityMissing",
        "capabilities",
        "the server does not advertise STLS",
        before
      )
    }
    yield* ensureQuiet(session, name, "upgrade")
    yield* sendLine(session, "STLS", "upgrade")
    const line = yield* session.readLine("upgrade")
    const reply = status(line)
    if (reply === "-ERR") {
      return yield* declined(options, name, "Refused", "upgrade", "the server refused STLS", before, line)
    }
    if (reply !== "+OK") {
      return yield* dialogueError(name, "UnexpectedReply", "upgrade", "expected +OK or -ERR to STLS", line)
    }
    const tls = yield* session.upgrade(options.tls)
    const after = yield* capa(session, "rediscover")
    return encryptedResult(name, tls, after, before)
  })

const discover = (session: Session, options: DialogueOptions): Effect.Effect<DialogueResult, StartTlsError> =>
  Effect.gen(function* () {
    const tls = yield* implicitTls(session, name, options)
    yield* greeting(session)
    return discoveredResult(name, tls, yield* capa(session, "capabilities"))
  })

export const pop3: Protocol = {
  name,
  plainPort: 110,
  implicitPort: 995,
  description: "POP3: CAPA, STLS → +OK, then CAPA again over TLS (RFC 1939, 2449, 2595, 8314)",
  startTls,
  discover
}

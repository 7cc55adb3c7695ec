/**
 * NNTP STARTTLS (RFC 3977, 4642, 8143). Greeting `200`/`201` (`400`/`502` and other negative codes: unavailable),
 * `CAPABILITIES` → `101` multi-line ending with `.`, `STARTTLS` → `382` (`580`, `502` or any other 4xx/5xx: refused),
 * TLS, `CAPABILITIES` again (RFC 4642 requires the cached list to be discarded).
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
  isNegative,
  readDotTerminated,
  replyCode,
  sendLine
} from "./internal/lines.ts"

const name = "nntp" as const

const greeting = (session: Session): Effect.Effect<void, StartTlsError> =>
  Effect.gen(function* () {
    const line = yield* session.readLine("greeting")
    const code = replyCode(line)
    if (code === 200 || code === 201) return
    if (code !== undefined && isNegative(code)) {
      return yield* dialogueError(name, "ServiceUnavailable", "greeting", `the server is not available (${code})`, line)
    }
    return yield* dialogueError(name, "UnexpectedReply", "greeting", "expected 200 or 201", line)
  })

/** `CAPABILITIES`: the capability lines; an empty list when the command is refused (a pre-RFC 3977 server). */
const capabilities = (session: Session, step: string): Effect.Effect<ReadonlyArray<string>, StartTlsError> =>
  Effect.gen(function* () {
    yield* sendLine(session, "CAPABILITIES", step)
    const line = yield* session.readLine(step)
    const code = replyCode(line)
    if (code !== undefined && isNegative(code)) return []
    if (code !== 101) return yield* dialogueError(name, "UnexpectedReply", step, "expected 101 to CAPABILITIES", line)
    const lines = yield* readDotTerminated(session, name, step)
    return lines.map((capability) => capability.trim()).filter((capability) => capability.length > 0)
  })

const startTls = (session: Session, options: DialogueOptions): Effect.Effect<DialogueResult, StartTlsError> =>
  Effect.gen(function* () {
    yield* greeting(session)
    const before = yield* capabilities(session, "capabilities")
    if (!hasKeyword(before, "STARTTLS")) {
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
    yield* sendLine(session, "STARTTLS", "upgrade")
    const line = yield* session.readLine("upgrade")
    const code = replyCode(line)
    if (code !== undefined && isNegative(code)) {
      return yield* declined(options, name, "Refused", "upgrade", `the server refused STARTTLS (${code})`, before, line)
    }
    if (code !== 382) return yield* dialogueError(name, "UnexpectedReply", "upgrade", "expected 382 to STARTTLS", line)
    const tls = yield* session.upgrade(options.tls)
    const after = yield* capabilities(session, "rediscover")
    return encryptedResult(name, tls, after, before)
  })

const discover = (session: Session, options: DialogueOptions): Effect.Effect<DialogueResult, StartTlsError> =>
  Effect.gen(function* () {
    const tls = yield* implicitTls(session, name, options)
    yield* greeting(session)
    return discoveredResult(name, tls, yield* capabilities(session, "capabilities"))
  })

export const nntp: Protocol = {
  name,
  plainPort: 119,
  implicitPort: 563,
  description: "NNTP: CAPABILITIES, STARTTLS → 382, then CAPABILITIES again over TLS (RFC 3977, 4642, 8143)",
  startTls,
  discover
}

/**
 * FTP AUTH TLS (RFC 959, 2228, 4217, 2389). Greeting `220` (a `120` means "wait": the `220` follows), `FEAT` →
 * `211-` … `211 End` with feature lines starting with a space, the `AUTH TLS` feature required, `AUTH TLS` → `234`
 * (500/502/504/534/431 or any other 4xx/5xx: refused), TLS, `PBSZ 0` → `200`, `PROT P` → `200`, `FEAT` again.
 * Replies are read whole: a multi-line `ddd-` reply ends at the first line starting `ddd ` (or exactly `ddd`).
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
  implicitTls,
  isNegative,
  makeBudget,
  readCharged,
  sendLine
} from "./internal/lines.ts"

const name = "ftp" as const

export interface FtpReply {
  readonly code: number
  /** Every line of the reply, the first and the last included. */
  readonly lines: ReadonlyArray<string>
}

/** The first line of a reply: its code and whether more lines follow (`ddd-`), or `undefined` if malformed. */
export const replyStart = (line: string): { readonly code: number; readonly multiline: boolean } | undefined => {
  const match = /^([0-9]{3})(?:([ -])|$)/.exec(line)
  return match === null ? undefined : { code: Number(match[1]), multiline: match[2] === "-" }
}

/** `true` for the line that ends a multi-line reply with `code`: `ddd text` or exactly `ddd`. */
export const isReplyEnd = (line: string, code: number): boolean => line === String(code) || line.startsWith(`${code} `)

/**
 * The features of a `211` FEAT reply: the inner lines that start with a space, trimmed (RFC 2389 §3.2). The first
 * (`211-Features:`) and last (`211 End`) lines, and any inner line without the leading space, are not features.
 */
export const parseFeatures = (reply: FtpReply): ReadonlyArray<string> =>
  reply.lines
    .slice(1, -1)
    .filter((line) => line.startsWith(" "))
    .map((line) => line.trim())
    .filter((line) => line.length > 0)

/** `true` when a feature line is `AUTH` with `TLS` among its mechanisms (`AUTH TLS`, `AUTH TLS;TLS-C;SSL`). */
export const offersAuthTls = (features: ReadonlyArray<string>): boolean =>
  features.some((feature) => {
    const [verb, ...rest] = feature.split(/\s+/)
    if (verb?.toUpperCase() !== "AUTH") return false
    return rest
      .join(" ")
      .split(/[;\s]+/)
      .some((mechanism) => mechanism.toUpperCase() === "TLS")
  })

const readReply = (session: Session, step: string): Effect.Effect<FtpReply, StartTlsError> =>
  Effect.gen(function* () {
    const budget = makeBudget(name, step)
    const first = yield* readCharged(session, step, budget)
    const start = replyStart(first)
    if (start === undefined) {
      return yield* dialogueError(name, "UnexpectedReply", step, "expected a three-digit reply code", first)
    }
    const lines = [first]
    if (start.multiline) {
      while (true) {
        const line = yield* readCharged(session, step, budget)
        lines.push(line)
        if (isReplyEnd(line, start.code)) break
      }
    }
    return { code: start.code, lines }
  })

const shown = (reply: FtpReply) => reply.lines.join("\r\n")

/** At most this many `120` ("service ready in nnn minutes") replies are waited through before the `220`. */
const maxWaits = 5

const greeting = (session: Session): Effect.Effect<void, StartTlsError> =>
  Effect.gen(function* () {
    for (let waits = 0; ; waits++) {
      const reply = yield* readReply(session, "greeting")
      if (reply.code === 220) return
      if (reply.code === 120 && waits < maxWaits) continue
      if (isNegative(reply.code)) {
        return yield* dialogueError(
          name,
          "ServiceUnavailable",
          "greeting",
          `the server is not available (${reply.code})`,
          shown(reply)
        )
      }
      return yield* dialogueError(name, "UnexpectedReply", "greeting", "expected 220", shown(reply))
    }
  })

/** `FEAT`: the feature lines; an empty list when the server has no FEAT (a negative reply). */
const feat = (session: Session, step: string): Effect.Effect<ReadonlyArray<string>, StartTlsError> =>
  Effect.gen(function* () {
    yield* sendLine(session, "FEAT", step)
    const reply = yield* readReply(session, step)
    if (reply.code === 211) return parseFeatures(reply)
    if (isNegative(reply.code)) return []
    return yield* dialogueError(name, "UnexpectedReply", step, "expected 211 to FEAT", shown(reply))
  })

/** A command that must be answered `200` once TLS is up (`PBSZ 0`, `PROT P`). */
const require200 = (session: Session, command: string, step: string): Effect.Effect<void, StartTlsError> =>
  Effect.gen(function* () {
    yield* sendLine(session, command, step)
    const reply = yield* readReply(session, step)
    if (reply.code !== 200) {
      return yield* dialogueError(name, "UnexpectedReply", step, `expected 200 to ${command}`, shown(reply))
    }
  })

const startTls = (session: Session, options: DialogueOptions): Effect.Effect<DialogueResult, StartTlsError> =>
  Effect.gen(function* () {
    yield* greeting(session)
    const before = yield* feat(session, "capabilities")
    if (!offersAuthTls(before)) {
      return yield* declined(
        options,
        name,
        "CapabilityMissing",
        "capabilities",
        "the server does not advertise AUTH TLS",
        before
      )
    }
    yield* ensureQuiet(session, name, "upgrade")
    yield* sendLine(session, "AUTH TLS", "upgrade")
    const reply = yield* readReply(session, "upgrade")
    if (isNegative(reply.code)) {
      return yield* declined(
        options,
        name,
        "Refused",
        "upgrade",
        `the server refused AUTH TLS (${reply.code})`,
        before,
        shown(reply)
      )
    }
    if (reply.code !== 234) {
      return yield* dialogueError(name, "UnexpectedReply", "upgrade", "expected 234 to AUTH TLS", shown(reply))
    }
    const tls = yield* session.upgrade(options.tls)
    yield* require200(session, "PBSZ 0", "pbsz")
    yield* require200(session, "PROT P", "prot")
    const after = yield* feat(session, "rediscover")
    return encryptedResult(name, tls, after, before)
  })

const discover = (session: Session, options: DialogueOptions): Effect.Effect<DialogueResult, StartTlsError> =>
  Effect.gen(function* () {
    const tls = yield* implicitTls(session, name, options)
    yield* greeting(session)
    return discoveredResult(name, tls, yield* feat(session, "capabilities"))
  })

export const ftp: Protocol = {
  name,
  plainPort: 21,
  implicitPort: 990,
  description: "FTP: FEAT, AUTH TLS → 234, then PBSZ 0, PROT P and FEAT again over TLS (RFC 959, 2228, 4217, 2389)",
  startTls,
  discover
}

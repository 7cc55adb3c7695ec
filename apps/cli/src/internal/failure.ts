/**
 * How a command ends badly. Commands report their own failures (text on stderr, or the JSON document on stdout) and
 * then fail with `Failure`, which carries only the exit code: the runner must not print anything a second time.
 */
import { Data } from "effect"

/** 0 success, 1 the operation failed (refused, timeout, verification…), 2 bad usage or a bad URL. */
export const ExitCode = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const

export class Failure extends Data.TaggedError("Failure")<{
  readonly exitCode: 1 | 2
  /** Already shown to the user; kept for logs and tests. */
  readonly message: string
}> {}

/** What an error is, in the stable shape of the JSON output: `type`, `reason`, `message`, and its known details. */
export interface ErrorReport {
  readonly type: string
  readonly reason: string
  readonly message: string
  readonly [detail: string]: unknown
}

const detailKeys = [
  "position",
  "suggestion",
  "input",
  "url",
  "address",
  "code",
  "errno",
  "operation",
  "tlsProblem",
  "protocol",
  "step",
  "reply"
] as const

/** Any error of the netdial packages (or a plain Error) as an `ErrorReport`; details that are absent are left out. */
export const reportOf = (error: unknown): ErrorReport => {
  const e = (typeof error === "object" && error !== null ? error : { message: String(error) }) as Record<
    string,
    unknown
  >
  const type = typeof e._tag === "string" ? e._tag : error instanceof Error ? error.name : "Error"
  const report: Record<string, unknown> = {
    type,
    reason: typeof e.reason === "string" ? e.reason : type,
    message: typeof e.message === "string" && e.message !== "" ? e.message : String(error)
  }
  for (const key of detailKeys) {
    const value = e[key]
    if (typeof value === "string" || typeof value === "number") report[key] = value
  }
  // A STARTTLS failure caused by the handshake: the transport's tlsProblem is the useful part.
  const cause = e.cause as Record<string, unknown> | undefined
  if (report.tlsProblem === undefined && typeof cause?.tlsProblem === "string") report.tlsProblem = cause.tlsProblem
  return report as ErrorReport
}

/**
 * Ending a command: on success print the result; on failure print the error (one JSON document with --json,
 * otherwise `netdial <command>: …` on stderr) and fail with the exit code.
 */
import { Effect } from "effect"
import { Failure, reportOf } from "./failure.ts"
import { err, printError, printJson, table } from "./output.ts"

export interface Context {
  readonly command: string
  readonly json: boolean
}

/** Reports `error` and fails with exit code 1 (operation failed) or 2 (usage / bad URL). */
export const fail = (
  ctx: Context,
  exitCode: 1 | 2,
  error: unknown,
  extra: Record<string, unknown> = {}
): Effect.Effect<never, Failure> => {
  const report = reportOf(error)
  return Effect.andThen(
    ctx.json
      ? printJson({ command: ctx.command, ok: false, ...extra, error: report })
      : printError(errorText(ctx.command, report)),
    Effect.fail(new Failure({ exitCode, message: report.message }))
  )
}

const errorText = (command: string, report: ReturnType<typeof reportOf>): string => {
  const rows: Array<readonly [string, string]> = []
  for (const key of ["tlsProblem", "step", "reply", "address", "code", "suggestion"] as const) {
    const value = report[key]
    if (value !== undefined) rows.push([key === "suggestion" ? "try" : key, String(value)])
  }
  const head = `${err.red(`netdial ${command}:`)} ${report.message} ${err.dim(`[${report.reason}]`)}`
  return rows.length === 0 ? head : `${head}\n${table(rows)}`
}

/** A usage problem found by the command itself (after flag parsing): exit code 2. */
export const usage = (ctx: Context, message: string): Effect.Effect<never, Failure> =>
  fail(ctx, 2, { _tag: "UsageError", reason: "BadUsage", message })

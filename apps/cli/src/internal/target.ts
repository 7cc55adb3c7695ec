/** The URL a command works on: `parse`, or `fromHostPort` for the fsockopen form (`--port`). */
import { fromHostPort, parse, type TransportUrl } from "@netdial/url"
import { Effect, Result } from "effect"
import type { Failure } from "./failure.ts"
import { type Context, fail } from "./report.ts"

export const targetOf = (
  ctx: Context,
  input: string,
  port: number | undefined,
  options: { readonly defaultPort?: number | undefined; readonly allowPortZero?: boolean } = {}
): Effect.Effect<TransportUrl, Failure> => {
  const parsed =
    port !== undefined
      ? fromHostPort(input, port, { allowPortZero: options.allowPortZero ?? false })
      : parse(input, { defaultPort: options.defaultPort, allowPortZero: options.allowPortZero ?? false })
  return Result.isSuccess(parsed) ? Effect.succeed(parsed.success) : fail(ctx, 2, parsed.failure)
}

export const tlsSchemes: ReadonlySet<string> = new Set(["ssl", "tls", "tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"])

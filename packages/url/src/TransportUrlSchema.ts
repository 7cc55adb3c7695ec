/**
 * Schemas, so that `Schema` and `Config` users get transport URLs for free:
 * `Config.schema(TransportUrlFromString, "UPSTREAM")` reads and checks an address from the environment.
 */
import { Effect, Schema, SchemaIssue, SchemaTransformation } from "effect"
import { type ParseOptions, parse } from "./Parse.ts"
import { format, isTransportUrl, type TransportUrl as TransportUrlType } from "./TransportUrl.ts"

/** A parsed `TransportUrl` value (the type side). */
export const TransportUrl = Schema.declare(isTransportUrl, {
  expected: "a TransportUrl",
  identifier: "TransportUrl"
})

/** Decodes a string with {@link parse} (with the given options) and encodes with `format`. */
export const transportUrlFromString = (options?: ParseOptions) =>
  Schema.String.pipe(
    Schema.decodeTo(
      TransportUrl,
      SchemaTransformation.transformEffect<TransportUrlType, string>({
        decode: (input, parseOptions) => {
          const result = parse(input, options)
          return result._tag === "Success"
            ? Effect.succeed(result.success)
            : Effect.fail(new SchemaIssue.InvalidValue({ message: result.failure.message }, input, parseOptions))
        },
        encode: (url) => Effect.succeed(format(url))
      })
    )
  )

/** A transport URL read from a string, with the default options (a port is required; port 0 is refused). */
export const TransportUrlFromString = transportUrlFromString()

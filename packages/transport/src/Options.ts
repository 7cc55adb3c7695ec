/**
 * The options of `connect`, `listen` and `bind`, checked with Schema: an unknown key or a value of the wrong type is
 * a `BadOption` error that names the key, never silently ignored (PHP ignores both).
 */
import { Effect, Schema } from "effect"
import { SocketClientFields, SocketServerFields } from "./SocketOptions.ts"
import { TlsClientFields, TlsServerFields } from "./TlsOptions.ts"
import { TransportError } from "./TransportError.ts"

export const ConnectOptions = Schema.Struct({
  ...SocketClientFields,
  ...TlsClientFields,
  /** UDP: datagrams queued for `pull` before the next ones are dropped. Default 1024. */
  receiveQueue: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 })))
})
export type ConnectOptions = typeof ConnectOptions.Type

export const ListenOptions = Schema.Struct({
  ...SocketServerFields,
  ...TlsServerFields
})
export type ListenOptions = typeof ListenOptions.Type

export const BindOptions = Schema.Struct({
  broadcast: Schema.optional(Schema.Boolean),
  reuseAddress: Schema.optional(Schema.Boolean),
  ipv6Only: Schema.optional(Schema.Boolean),
  receiveBufferSize: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1 << 30 }))),
  sendBufferSize: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1 << 30 }))),
  receiveQueue: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 })))
})
export type BindOptions = typeof BindOptions.Type

const decoders = new WeakMap<object, (input: unknown) => ReturnType<ReturnType<typeof Schema.decodeUnknownResult>>>()

/** One strict decoder per schema, built once. */
const decoderOf = (schema: Schema.Top) => {
  let decoder = decoders.get(schema)
  if (decoder === undefined) {
    decoder = Schema.decodeUnknownResult(schema as never, { onExcessProperty: "error", errors: "all" })
    decoders.set(schema, decoder)
  }
  return decoder
}

/** Decodes options strictly; the error names the offending key and what was expected. */
export const decodeOptions = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  what: string,
  input: unknown
): Effect.Effect<S["Type"], TransportError> =>
  Effect.suspend(() => {
    // The common call passes no options: nothing to check.
    if (input === undefined || (typeof input === "object" && input !== null && Object.keys(input).length === 0)) {
      return Effect.succeed({} as S["Type"])
    }
    const result = decoderOf(schema)(input)
    return result._tag === "Success"
      ? Effect.succeed(result.success as S["Type"])
      : Effect.fail(
          new TransportError({
            reason: "BadOption",
            message: `invalid ${what} options: ${String(result.failure.message).replace(/\s+/g, " ")}`,
            operation: "options"
          })
        )
  })

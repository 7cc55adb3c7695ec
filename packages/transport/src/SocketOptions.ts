/**
 * Socket-level options (the `socket` context of PHP, plus timeouts), as Schema field records that `Options.ts`
 * combines with the TLS fields. Everything is optional; defaults are applied by `resolveDefaults`.
 */
import { Duration, Option, Schema } from "effect"
import { type AddressPolicy, isAddressPolicy } from "./AddressPolicy.ts"

/** A duration as Effect accepts it: milliseconds, `"5 seconds"`, a `Duration`, `{ seconds: 5 }`, `"Infinity"`. */
export const DurationInput = Schema.declare(
  (u: unknown): u is Duration.Input => {
    try {
      return Option.isSome(Duration.fromInput(u as Duration.Input)) && Duration.toMillis(u as Duration.Input) >= 0
    } catch {
      return false
    }
  },
  { expected: 'a duration (milliseconds, "5 seconds", a Duration)' }
)

const Port = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))

export const AddressPolicySchema = Schema.declare((u: unknown): u is AddressPolicy => isAddressPolicy(u), {
  expected: "an AddressPolicy (e.g. AddressPolicy.publicOnly)"
})

/** Options of a client connection (tcp, tls, unix; udp uses the relevant subset). */
export const SocketClientFields = {
  /** Time to establish the connection, all addresses included. Default 60 s, as PHP's default_socket_timeout. */
  connectTimeout: Schema.optional(DurationInput),
  /** Time for the TLS handshake. Default: `connectTimeout`. */
  handshakeTimeout: Schema.optional(DurationInput),
  /** Closes the connection with `TimedOut` after this long without reads or writes. Default: none. */
  idleTimeout: Schema.optional(DurationInput),
  /** Local IP address to bind before connecting (PHP's `bindto`). */
  localAddress: Schema.optional(Schema.String),
  /** Local port to bind before connecting. */
  localPort: Schema.optional(Port),
  /** Which resolved addresses to use, and in what order. Default `"any"`: both, in resolver order, interleaved. */
  family: Schema.optional(Schema.Literals(["any", "ipv4", "ipv6", "prefer-ipv4", "prefer-ipv6"])),
  /** Delay before Happy Eyeballs starts the next address (RFC 8305 recommends 250 ms). */
  attemptDelay: Schema.optional(DurationInput),
  /** Checked on every resolved address before connecting. Default: allow all. */
  addressPolicy: Schema.optional(AddressPolicySchema),
  /** TCP_NODELAY. Default false, as Node and PHP. */
  noDelay: Schema.optional(Schema.Boolean),
  /** SO_KEEPALIVE; a duration sets the initial delay. Default off. */
  keepAlive: Schema.optional(Schema.Union([Schema.Boolean, DurationInput])),
  /** SO_BROADCAST (udp). */
  broadcast: Schema.optional(Schema.Boolean)
}

/** Options of a listener. */
export const SocketServerFields = {
  /** listen(2) backlog. Default 511 (Node's); PHP's is 32. */
  backlog: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 }))),
  /** IPV6_V6ONLY for `[::]` listeners. Default: the OS's (dual-stack on Linux). */
  ipv6Only: Schema.optional(Schema.Boolean),
  /** SO_REUSEPORT (Linux, BSD): several listeners share a port. */
  reusePort: Schema.optional(Schema.Boolean),
  /** TCP_NODELAY on accepted connections. */
  noDelay: Schema.optional(Schema.Boolean),
  /** SO_KEEPALIVE on accepted connections. */
  keepAlive: Schema.optional(Schema.Union([Schema.Boolean, DurationInput])),
  /** Idle timeout of accepted connections. */
  idleTimeout: Schema.optional(DurationInput),
  /** TLS handshake time for accepted connections. Default 60 s. */
  handshakeTimeout: Schema.optional(DurationInput),
  /** SO_BROADCAST (udp). */
  broadcast: Schema.optional(Schema.Boolean),
  /** unix: the socket file's mode after bind (e.g. 0o660). */
  mode: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0o777 }))),
  /** unix: what to do when the socket file exists. `"replace-stale"` (default) removes it only if nothing listens. */
  existingSocketFile: Schema.optional(Schema.Literals(["replace-stale", "fail"])),
  /** How many accepted connections wait for `accept` before the listener stops taking more. Default 128. */
  acceptQueue: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 })))
}

export const defaultConnectTimeout = Duration.seconds(60)
export const defaultAttemptDelay = Duration.millis(250)

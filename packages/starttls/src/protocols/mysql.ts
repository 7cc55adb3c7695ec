/**
 * MySQL / MariaDB TLS (client/server protocol, "SSL Handshake"): the server speaks first with Handshake v10; when
 * it sets `CLIENT_SSL` the client answers with a 36-byte SSLRequest (sequence 1) and starts the TLS handshake at once:
 * the server sends no reply, so nothing at all may be waiting when the ClientHello goes out.
 *
 * The SSLRequest announces `mysqlCapabilities` (default {@link defaultClientCapabilities}) plus `CLIENT_SSL` and
 * `CLIENT_PROTOCOL_41`, intersected with the server's flags; max packet 16 MiB; charset 0x21 (utf8_general_ci).
 *
 * **Continuing after `startTls`:** the caller sends HandshakeResponse41 over TLS with **sequence number 2** and the
 * same capability flags (`result.mysql.clientCapabilities`), answering the auth challenge in
 * `result.mysql.handshake.authPluginData` with `result.mysql.handshake.authPluginName`. MySQL has no second
 * handshake over TLS, so that data came in plaintext: a man in the middle could have edited it, which can only make
 * authentication fail (the response itself travels over TLS). `capabilities` are the server's flag names
 * (`CLIENT_SSL`, `CLIENT_PROTOCOL_41`…) from that same handshake, for the same reason.
 */
import { Effect } from "effect"
import type { DialogueOptions, DialogueResult, Protocol } from "../Protocol.ts"
import type { Session } from "../Session.ts"
import { StartTlsError, type StartTlsErrorReason, showReply } from "../StartTlsError.ts"

const NAME = "mysql"

/** Capability flags (include/mysql_com.h). */
export const capabilityFlags = {
  CLIENT_LONG_PASSWORD: 0x1,
  CLIENT_FOUND_ROWS: 0x2,
  CLIENT_LONG_FLAG: 0x4,
  CLIENT_CONNECT_WITH_DB: 0x8,
  CLIENT_NO_SCHEMA: 0x10,
  CLIENT_COMPRESS: 0x20,
  CLIENT_ODBC: 0x40,
  CLIENT_LOCAL_FILES: 0x80,
  CLIENT_IGNORE_SPACE: 0x100,
  CLIENT_PROTOCOL_41: 0x200,
  CLIENT_INTERACTIVE: 0x400,
  CLIENT_SSL: 0x800,
  CLIENT_IGNORE_SIGPIPE: 0x1000,
  CLIENT_TRANSACTIONS: 0x2000,
  CLIENT_RESERVED: 0x4000,
  CLIENT_SECURE_CONNECTION: 0x8000,
  CLIENT_MULTI_STATEMENTS: 0x10000,
  CLIENT_MULTI_RESULTS: 0x20000,
  CLIENT_PS_MULTI_RESULTS: 0x40000,
  CLIENT_PLUGIN_AUTH: 0x80000,
  CLIENT_CONNECT_ATTRS: 0x100000,
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x200000,
  CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS: 0x400000,
  CLIENT_SESSION_TRACK: 0x800000,
  CLIENT_DEPRECATE_EOF: 0x1000000,
  CLIENT_OPTIONAL_RESULTSET_METADATA: 0x2000000,
  CLIENT_ZSTD_COMPRESSION_ALGORITHM: 0x4000000,
  CLIENT_QUERY_ATTRIBUTES: 0x8000000,
  MULTI_FACTOR_AUTHENTICATION: 0x10000000,
  CLIENT_CAPABILITY_EXTENSION: 0x20000000,
  CLIENT_SSL_VERIFY_SERVER_CERT: 0x40000000,
  CLIENT_REMEMBER_OPTIONS: 0x80000000
} as const

const CLIENT_SSL = capabilityFlags.CLIENT_SSL
const CLIENT_PROTOCOL_41 = capabilityFlags.CLIENT_PROTOCOL_41
const CLIENT_SECURE_CONNECTION = capabilityFlags.CLIENT_SECURE_CONNECTION
const CLIENT_PLUGIN_AUTH = capabilityFlags.CLIENT_PLUGIN_AUTH

/**
 * What we announce when the caller does not say: long passwords and flags, 4.1 protocol, transactions, secure
 * connection, multi results, plugin auth (with length-encoded data). Not LOCAL_FILES, MULTI_STATEMENTS,
 * CONNECT_ATTRS, CONNECT_WITH_DB or DEPRECATE_EOF: each changes what the caller must send or parse later.
 */
export const defaultClientCapabilities =
  capabilityFlags.CLIENT_LONG_PASSWORD |
  capabilityFlags.CLIENT_LONG_FLAG |
  CLIENT_PROTOCOL_41 |
  capabilityFlags.CLIENT_TRANSACTIONS |
  CLIENT_SECURE_CONNECTION |
  capabilityFlags.CLIENT_MULTI_RESULTS |
  capabilityFlags.CLIENT_PS_MULTI_RESULTS |
  CLIENT_PLUGIN_AUTH |
  capabilityFlags.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA

/** The flag names set in `flags`, lowest bit first. */
export const capabilityNames = (flags: number): ReadonlyArray<string> =>
  Object.entries(capabilityFlags)
    .filter(([, bit]) => (flags & bit) >>> 0 !== 0)
    .map(([name]) => name)

/** The server's Handshake v10, as received (in plaintext). */
export interface MysqlHandshake {
  readonly protocolVersion: number
  readonly serverVersion: string
  readonly connectionId: number
  /** The 32-bit capability flags (low and high halves). */
  readonly capabilities: number
  /** MariaDB's extended capabilities (last 4 reserved bytes) when the server clears CLIENT_LONG_PASSWORD (bit 0). */
  readonly mariadbCapabilities: number | undefined
  readonly characterSet: number | undefined
  readonly statusFlags: number | undefined
  /** Parts 1 and 2 of the auth challenge (the scramble), without the trailing NUL. */
  readonly authPluginData: Uint8Array
  readonly authPluginName: string | undefined
}

export interface MysqlDialogue {
  readonly handshake: MysqlHandshake
  /** The flags sent in the SSLRequest: send the same ones in HandshakeResponse41. */
  readonly clientCapabilities: number
  /** The sequence number of the next client packet (HandshakeResponse41): 2 after the SSLRequest. */
  readonly nextSequence: number
}

export interface MysqlDialogueResult extends DialogueResult {
  readonly mysql: MysqlDialogue
}

export interface MysqlProtocol extends Protocol {
  readonly startTls: (session: Session, options: DialogueOptions) => Effect.Effect<MysqlDialogueResult, StartTlsError>
  readonly discover: (session: Session, options: DialogueOptions) => Effect.Effect<MysqlDialogueResult, StartTlsError>
}

const failure = (reason: StartTlsErrorReason, step: string, message: string, reply?: string): StartTlsError =>
  new StartTlsError({
    reason,
    protocol: NAME,
    step,
    message: `${NAME} ${step}: ${message}`,
    ...(reply !== undefined ? { reply: showReply(reply) } : {})
  })

const latin1 = new TextDecoder("latin1")
const utf8 = new TextDecoder()

/** A handshake larger than this is not one. */
const maxHandshake = 4096

/** Parses a Handshake v10 payload; a string says what is wrong. */
export const parseHandshake = (payload: Uint8Array): MysqlHandshake | string => {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
  if (payload.length === 0) return "an empty packet"
  const protocolVersion = payload[0]
  if (protocolVersion !== 10) return `protocol version ${protocolVersion} (only Handshake v10 is supported)`
  const nul = payload.indexOf(0, 1)
  if (nul === -1) return "a truncated handshake (no end to the server version)"
  const serverVersion = utf8.decode(payload.subarray(1, nul))
  let at = nul + 1
  if (at + 4 + 8 + 1 + 2 > payload.length) return "a truncated handshake"
  const connectionId = view.getUint32(at, true)
  at += 4
  const part1 = payload.subarray(at, at + 8)
  at += 8
  if (payload[at] !== 0) return "a handshake without its filler byte"
  at += 1
  let capabilities = view.getUint16(at, true)
  at += 2
  if (at >= payload.length) {
    return {
      protocolVersion,
      serverVersion,
      connectionId,
      capabilities,
      mariadbCapabilities: undefined,
      characterSet: undefined,
      statusFlags: undefined,
      authPluginData: part1.slice(),
      authPluginName: undefined
    }
  }
  if (at + 1 + 2 + 2 + 1 + 10 > payload.length) return "a truncated handshake"
  const characterSet = payload[at]
  const statusFlags = view.getUint16(at + 1, true)
  capabilities = (capabilities | (view.getUint16(at + 3, true) << 16)) >>> 0
  const authDataLength = payload[at + 5]
  const mariadbCapabilities = (capabilities & 1) === 0 ? view.getUint32(at + 12, true) : undefined
  at += 16
  let authPluginData = part1.slice()
  if ((capabilities & CLIENT_SECURE_CONNECTION) !== 0) {
    const length = Math.max(13, authDataLength - 8)
    if (at + length > payload.length) return "a truncated handshake (auth data)"
    const part2 = payload.subarray(at, at + length)
    at += length
    // part 2 ends with a NUL that is not part of the challenge
    const end = part2[part2.length - 1] === 0 ? part2.length - 1 : part2.length
    const joined = new Uint8Array(8 + end)
    joined.set(part1, 0)
    joined.set(part2.subarray(0, end), 8)
    authPluginData = joined
  }
  let authPluginName: string | undefined
  if ((capabilities & CLIENT_PLUGIN_AUTH) !== 0 && at < payload.length) {
    // some servers (MySQL bug #59453) omit the final NUL
    const end = payload.indexOf(0, at)
    authPluginName = latin1.decode(payload.subarray(at, end === -1 ? payload.length : end))
  }
  return {
    protocolVersion,
    serverVersion,
    connectionId,
    capabilities,
    mariadbCapabilities,
    characterSet,
    statusFlags,
    authPluginData,
    authPluginName
  }
}

/** The 36-byte SSLRequest: length 32, sequence 1, flags, max packet 16 MiB, charset 0x21, 23 zero bytes. */
export const sslRequest = (clientCapabilities: number): Uint8Array => {
  const packet = new Uint8Array(36)
  const view = new DataView(packet.buffer)
  packet[0] = 32
  packet[3] = 1
  view.setUint32(4, clientCapabilities >>> 0, true)
  view.setUint32(8, 16 * 1024 * 1024, true)
  packet[12] = 0x21
  return packet
}

/** Reads the greeting packet: Handshake v10, or an ERR packet (0xff: too many connections, host blocked…). */
const readHandshake = (session: Session, step: string) =>
  Effect.gen(function* () {
    const header = yield* session.readBytes(4, step)
    const length = header[0] | (header[1] << 8) | (header[2] << 16)
    const sequence = header[3]
    if (length > maxHandshake) {
      return yield* failure(
        "ReplyTooLong",
        step,
        `a ${length}-byte greeting (a Handshake v10 is under ${maxHandshake})`
      )
    }
    if (sequence !== 0) return yield* failure("UnexpectedReply", step, `a greeting with sequence number ${sequence}`)
    const payload = yield* session.readBytes(length, step)
    if (payload[0] === 0xff && payload.length >= 3) {
      const code = payload[1] | (payload[2] << 8)
      // the message is unauthenticated plaintext: escaped in `reply`, never in the message
      return yield* failure(
        "ServiceUnavailable",
        step,
        `the server refused the connection with error ${code}`,
        utf8.decode(payload.subarray(3))
      )
    }
    const handshake = parseHandshake(payload)
    if (typeof handshake === "string") {
      return yield* failure("UnexpectedReply", step, handshake, latin1.decode(payload.subarray(0, 64)))
    }
    return handshake
  })

const resultOf = (
  handshake: MysqlHandshake,
  clientCapabilities: number,
  nextSequence: number,
  tls: DialogueResult["tls"]
): MysqlDialogueResult => {
  const names = capabilityNames(handshake.capabilities)
  return {
    protocol: NAME,
    encrypted: tls !== undefined,
    tls,
    capabilities: names,
    capabilitiesBeforeTls: names,
    mysql: { handshake, clientCapabilities, nextSequence }
  }
}

const startTls = (session: Session, options: DialogueOptions) =>
  Effect.gen(function* () {
    const handshake = yield* readHandshake(session, "greeting")
    const wanted = ((options.mysqlCapabilities ?? defaultClientCapabilities) | CLIENT_SSL | CLIENT_PROTOCOL_41) >>> 0
    const clientCapabilities = (wanted & handshake.capabilities) >>> 0
    const missing =
      (handshake.capabilities & CLIENT_SSL) === 0
        ? "the server's handshake does not set CLIENT_SSL (a server without TLS, or a man in the middle clearing it)"
        : (handshake.capabilities & CLIENT_PROTOCOL_41) === 0
          ? "the server's handshake does not set CLIENT_PROTOCOL_41, which the SSLRequest needs"
          : undefined
    if (missing !== undefined) {
      // without TLS the caller's HandshakeResponse41 is packet 1
      if (options.policy === "opportunistic")
        return resultOf(handshake, (wanted & ~CLIENT_SSL & handshake.capabilities) >>> 0, 1, undefined)
      return yield* failure("CapabilityMissing", "capabilities", missing)
    }
    yield* session.write(sslRequest(clientCapabilities), "upgrade")
    const tls = yield* session.upgrade(options.tls)
    return resultOf(handshake, clientCapabilities, 2, tls)
  })

const discover = (session: Session, options: DialogueOptions) =>
  Effect.gen(function* () {
    const handshake = yield* readHandshake(session, "greeting")
    const wanted = ((options.mysqlCapabilities ?? defaultClientCapabilities) | CLIENT_PROTOCOL_41) >>> 0
    return resultOf(handshake, (wanted & ~CLIENT_SSL & handshake.capabilities) >>> 0, 1, session.connection().tls)
  })

/** MySQL / MariaDB: SSLRequest on 3306 (no implicit TLS port). */
export const mysql: MysqlProtocol = {
  name: NAME,
  plainPort: 3306,
  implicitPort: undefined,
  description: "MySQL/MariaDB SSLRequest after Handshake v10 (no reply; HandshakeResponse41 follows at sequence 2)",
  startTls,
  discover
}

/**
 * XMPP STARTTLS (RFC 6120 §5) for client-to-server (`xmpp`, `jabber:client`, port 5222, direct TLS 5223 per
 * XEP-0368) and server-to-server streams (`xmpp-server`, `jabber:server` with `from=` and the dialback namespace,
 * port 5269).
 *
 * The client speaks first: stream header (`to=` the domain), then the server's header and `<stream:features>`, read
 * with a namespace-aware incremental XML reader (either quote style, any prefix, features split over reads or glued
 * to the header; no DTD, entities, comments or processing instructions, so no XML bombs). `<starttls
 * xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>` is sent alone; the only success is `<proceed/>` in that namespace, and
 * nothing may follow it before the handshake. Over TLS the stream is restarted (a new header) and the new features
 * replace everything learned before.
 *
 * Capabilities are the feature element names, with details where they matter: `starttls` (`starttls:required` when
 * the server demands it), `mechanisms:PLAIN,SCRAM-SHA-1` (the SASL mechanisms), `compression:zlib`, `bind`,
 * `session`, `sm`, `dialback`, `c`, `register`, `auth`…
 *
 * A `<failure/>` is an error under both policies: RFC 6120 §5.4.2.2 has the server close the stream after it, so
 * there is no plaintext stream left to fall back to. After `startTls` (and `discover`) the caller owns an open
 * stream whose features have just been read: it continues with SASL.
 */
import type { TlsDetails } from "@netdial/transport"
import { Effect } from "effect"
import type { DialogueOptions, DialogueResult, Protocol } from "../Protocol.ts"
import type { Session } from "../Session.ts"
import { StartTlsError, type StartTlsErrorReason, showReply } from "../StartTlsError.ts"
import { escapeAttribute, STREAMS_NS, type XmlElement, XmppStreamReader } from "./internal/xml.ts"

const TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
const SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
const COMPRESS_NS = "http://jabber.org/features/compress"
const STREAM_ERRORS_NS = "urn:ietf:params:xml:ns:xmpp-streams"
const DIALBACK_NS = "jabber:server:dialback"

/** What we send to ask for TLS. */
export const starttlsCommand = `<starttls xmlns='${TLS_NS}'/>`

interface Flavor {
  readonly name: "xmpp" | "xmpp-server"
  readonly contentNs: string
}

const clientFlavor: Flavor = { name: "xmpp", contentNs: "jabber:client" }
const serverFlavor: Flavor = { name: "xmpp-server", contentNs: "jabber:server" }

const failure = (
  flavor: Flavor,
  reason: StartTlsErrorReason,
  step: string,
  message: string,
  reply?: string
): StartTlsError =>
  new StartTlsError({
    reason,
    protocol: flavor.name,
    step,
    message: `${flavor.name} ${step}: ${message}`,
    ...(reply !== undefined ? { reply: showReply(reply) } : {})
  })

/** The stream header we send (on connect and on every restart). */
export const streamHeader = (flavor: "xmpp" | "xmpp-server", options: DialogueOptions): string => {
  const to = escapeAttribute(options.domain)
  if (flavor === "xmpp") {
    return `<?xml version='1.0'?><stream:stream to='${to}' version='1.0' xmlns='jabber:client' xmlns:stream='${STREAMS_NS}'>`
  }
  const from = escapeAttribute(options.fromDomain ?? options.clientName)
  return `<?xml version='1.0'?><stream:stream from='${from}' to='${to}' version='1.0' xmlns='jabber:server' xmlns:db='${DIALBACK_NS}' xmlns:stream='${STREAMS_NS}'>`
}

const describe = (element: XmlElement): string =>
  `<${element.local}${element.ns === "" ? "" : ` xmlns='${element.ns}'`}>`

/** Reads the next event, consuming exactly the bytes of what it returns. */
const readEvent = (flavor: Flavor, session: Session, reader: XmppStreamReader, step: string) =>
  Effect.gen(function* () {
    while (true) {
      const event = reader.next(session.buffered())
      switch (event.type) {
        case "more":
          yield* session.readMore(step)
          continue
        case "error": {
          const sample = new TextDecoder().decode(session.buffered().subarray(0, 200))
          return yield* failure(flavor, "UnexpectedReply", step, `malformed stream: ${event.message}`, sample)
        }
        default:
          session.consume(event.end)
          reader.consumed(event.end)
          return event
      }
    }
  })

const streamError = (flavor: Flavor, step: string, element: XmlElement) => {
  const condition = element.children.find((c) => c.ns === STREAM_ERRORS_NS && c.local !== "text")
  const text = element.children.find((c) => c.ns === STREAM_ERRORS_NS && c.local === "text")?.text
  return failure(
    flavor,
    "ServiceUnavailable",
    step,
    `the server ended the stream with a stream error (${condition?.local ?? "no condition"})`,
    text
  )
}

/** The next top-level element; the end of the stream and stream errors are failures. */
const readElement = (flavor: Flavor, session: Session, reader: XmppStreamReader, step: string) =>
  Effect.gen(function* () {
    const event = yield* readEvent(flavor, session, reader, step)
    if (event.type === "close") {
      return yield* failure(flavor, "Closed", step, "the server closed the stream (</stream:stream>)")
    }
    if (event.type !== "element") return yield* failure(flavor, "UnexpectedReply", step, "a second stream header")
    if (event.element.ns === STREAMS_NS && event.element.local === "error") {
      return yield* streamError(flavor, step, event.element)
    }
    return event.element
  })

/** Sends our header, reads the server's header and its features. */
const openStream = (flavor: Flavor, session: Session, options: DialogueOptions, step: string) =>
  Effect.gen(function* () {
    const reader = new XmppStreamReader()
    yield* session.write(streamHeader(flavor.name, options), step)
    const header = yield* readEvent(flavor, session, reader, step)
    if (header.type !== "header") {
      return yield* failure(flavor, "UnexpectedReply", step, "no stream header from the server")
    }
    const contentNs = header.namespaces.get("")
    if (contentNs !== flavor.contentNs) {
      return yield* failure(
        flavor,
        "UnexpectedReply",
        step,
        `the server's stream is in namespace ${contentNs === undefined ? "(none)" : `'${contentNs}'`}, not '${flavor.contentNs}'`
      )
    }
    const version = header.element.attributes.get("version")
    const major = version === undefined ? 0 : Number.parseInt(version.split(".")[0] ?? "", 10)
    if (!(major >= 1)) {
      return yield* failure(
        flavor,
        "CapabilityMissing",
        step,
        `the server speaks a pre-1.0 stream (version ${version === undefined ? "absent" : showReply(version)}): no stream features, no STARTTLS`
      )
    }
    const features = yield* readElement(flavor, session, reader, step)
    if (features.ns !== STREAMS_NS || features.local !== "features") {
      return yield* failure(
        flavor,
        "UnexpectedReply",
        step,
        `${describe(features)} where <stream:features> was expected`
      )
    }
    return { reader, features }
  })

/** Feature names as capabilities (see the module comment). */
export const featureNames = (features: XmlElement): ReadonlyArray<string> => {
  const names: Array<string> = []
  for (const feature of features.children) {
    let name = feature.local
    if (feature.ns === TLS_NS && feature.local === "starttls") {
      if (feature.children.some((c) => c.local === "required")) name = "starttls:required"
    } else if (feature.ns === SASL_NS && feature.local === "mechanisms") {
      const mechanisms = feature.children.filter((c) => c.local === "mechanism").map((c) => c.text.trim())
      name = `mechanisms:${mechanisms.join(",")}`
    } else if (feature.ns === COMPRESS_NS && feature.local === "compression") {
      const methods = feature.children.filter((c) => c.local === "method").map((c) => c.text.trim())
      name = `compression:${methods.join(",")}`
    }
    if (!names.includes(name)) names.push(name)
  }
  return names
}

const isWhitespace = (bytes: Uint8Array) => bytes.every((b) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d)

const startTls = (flavor: Flavor) => (session: Session, options: DialogueOptions) =>
  Effect.gen(function* () {
    const plain = yield* openStream(flavor, session, options, "capabilities")
    const before = featureNames(plain.features)
    const offered = plain.features.children.some((c) => c.ns === TLS_NS && c.local === "starttls")
    if (!offered) {
      if (options.policy === "opportunistic") {
        return {
          protocol: flavor.name,
          encrypted: false,
          tls: undefined,
          capabilities: before,
          capabilitiesBeforeTls: before
        } satisfies DialogueResult
      }
      return yield* failure(
        flavor,
        "CapabilityMissing",
        "capabilities",
        "the server's stream features do not offer <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/> (a server without TLS, or a man in the middle stripping it)"
      )
    }
    // A reply that is already here was sent before our command: it cannot be the answer to it.
    if (!isWhitespace(session.buffered())) {
      return yield* failure(
        flavor,
        "UnexpectedReply",
        "upgrade",
        "the server sent data after its features and before our <starttls/>",
        new TextDecoder().decode(session.buffered().subarray(0, 200))
      )
    }
    yield* session.write(starttlsCommand, "upgrade")
    const answer = yield* readElement(flavor, session, plain.reader, "upgrade")
    if (answer.ns === TLS_NS && answer.local === "failure") {
      return yield* failure(
        flavor,
        "Refused",
        "upgrade",
        "the server answered <starttls/> with <failure/> (RFC 6120 §5.4.2.2: the stream is closed after it)"
      )
    }
    if (answer.ns !== TLS_NS || answer.local !== "proceed") {
      return yield* failure(flavor, "UnexpectedReply", "upgrade", `${describe(answer)} where <proceed/> was expected`)
    }
    if (answer.children.length > 0 || answer.text.trim() !== "") {
      return yield* failure(flavor, "UnexpectedReply", "upgrade", "a <proceed/> with content")
    }
    const tls = yield* session.upgrade(options.tls)
    // Restart: a new stream over TLS; nothing learned before it is kept.
    const secured = yield* openStream(flavor, session, options, "rediscover")
    return {
      protocol: flavor.name,
      encrypted: true,
      tls,
      capabilities: featureNames(secured.features),
      capabilitiesBeforeTls: before
    } satisfies DialogueResult
  })

const discover = (flavor: Flavor) => (session: Session, options: DialogueOptions) =>
  Effect.gen(function* () {
    const opened = yield* openStream(flavor, session, options, "capabilities")
    const tls: TlsDetails | undefined = session.connection().tls
    return {
      protocol: flavor.name,
      encrypted: tls !== undefined,
      tls,
      capabilities: featureNames(opened.features),
      capabilitiesBeforeTls: []
    } satisfies DialogueResult
  })

/** XMPP client-to-server: `jabber:client`, 5222 (STARTTLS) and 5223 (direct TLS, XEP-0368). */
export const xmpp: Protocol = {
  name: "xmpp",
  plainPort: 5222,
  implicitPort: 5223,
  description: "XMPP client stream (RFC 6120): <starttls/> → <proceed/>, then a new stream over TLS",
  startTls: startTls(clientFlavor),
  discover: discover(clientFlavor)
}

/**
 * XMPP server-to-server: `jabber:server`, `from=` (our domain: `fromDomain`, else `clientName`), the dialback
 * namespace; port 5269. XEP-0368 direct TLS has no fixed s2s port (it is found through SRV), so none is set.
 */
export const xmppServer: Protocol = {
  name: "xmpp-server",
  plainPort: 5269,
  implicitPort: undefined,
  description: "XMPP server-to-server stream (RFC 6120, dialback): <starttls/> → <proceed/>, then a new stream",
  startTls: startTls(serverFlavor),
  discover: discover(serverFlavor)
}

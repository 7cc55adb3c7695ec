/**
 * A small, namespace-aware, incremental XML reader for the few XMPP stream elements a STARTTLS dialogue needs: the
 * stream header, `<stream:features>`, `<proceed/>`, `<failure/>`, `<stream:error>` and the closing tag.
 *
 * It works over the session's unconsumed bytes without consuming them: `next(buffer)` resumes where the previous call
 * stopped (the buffer only grows between calls), and reports a header or a whole top-level element with the byte
 * offset where it ends, so that the caller consumes exactly that much — never a byte past the element, which is what
 * keeps the STARTTLS switch injection-proof. Anything outside the XMPP subset of XML (RFC 6120 §11.1) is an error:
 * DOCTYPE/entity declarations (no XML bombs), entity references other than the five predefined ones, processing
 * instructions other than the XML declaration, comments and CDATA sections. Both quote styles and any prefix are
 * accepted; names are resolved to (namespace, local name) pairs.
 */

export const STREAMS_NS = "http://etherx.jabber.org/streams"
export const XML_NS = "http://www.w3.org/XML/1998/namespace"
const XMLNS_NS = "http://www.w3.org/2000/xmlns/"

export interface XmlElement {
  /** The resolved namespace ("" when none). */
  readonly ns: string
  readonly local: string
  /** Attributes other than namespace declarations, by qualified name as written (`to`, `xml:lang`…). */
  readonly attributes: ReadonlyMap<string, string>
  readonly children: ReadonlyArray<XmlElement>
  /** Character data directly inside the element, entities decoded. */
  readonly text: string
}

export type StreamEvent =
  /** Not enough bytes yet: read more and call `next` again with the grown buffer. */
  | { readonly type: "more" }
  /** The stream header (`<stream:stream …>`), without children; consume `end` bytes. */
  | {
      readonly type: "header"
      readonly element: XmlElement
      /** The namespace declarations in scope for the stream's children ("" = the default namespace). */
      readonly namespaces: ReadonlyMap<string, string>
      readonly end: number
    }
  /** A complete top-level element of the stream (leading whitespace included in `end`). */
  | { readonly type: "element"; readonly element: XmlElement; readonly end: number }
  /** `</stream:stream>`. */
  | { readonly type: "close"; readonly end: number }
  | { readonly type: "error"; readonly message: string }

export interface Limits {
  /** Deepest nesting inside a top-level element. Default 16. */
  readonly maxDepth?: number
  /** Most elements in one top-level element. Default 512. */
  readonly maxElements?: number
  /** Most attributes on one element. Default 64. */
  readonly maxAttributes?: number
}

// -- Tokens -------------------------------------------------------------------------------------------------------

type Token =
  | { readonly kind: "declaration"; readonly content: string; readonly end: number }
  | {
      readonly kind: "open"
      readonly name: string
      readonly attributes: ReadonlyArray<readonly [string, string]>
      readonly selfClosing: boolean
      readonly end: number
    }
  | { readonly kind: "close"; readonly name: string; readonly end: number }
  | { readonly kind: "text"; readonly text: string; readonly end: number }

type TokenResult = Token | "incomplete" | { readonly error: string }

const LT = 0x3c
const GT = 0x3e
const SLASH = 0x2f
const QMARK = 0x3f
const BANG = 0x21
const EQ = 0x3d

const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d

const decoder = new TextDecoder("utf-8", { fatal: true })

const decode = (bytes: Uint8Array): string | undefined => {
  try {
    return decoder.decode(bytes)
  } catch {
    return undefined
  }
}

const nameStart =
  "A-Za-z_\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD"
const nameChar = `${nameStart}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040`
const ncName = `[${nameStart}][${nameChar}]*`
const qNamePattern = new RegExp(`^${ncName}(?::${ncName})?$`)

/** Characters XML 1.0 does not allow. */
const forbiddenChars = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/

const predefined: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" }

/** Decodes the five predefined entities and character references; any other `&` is an error. */
const unescape = (raw: string): string | { readonly error: string } => {
  if (forbiddenChars.test(raw)) return { error: "a character XML does not allow" }
  if (!raw.includes("&")) return raw
  let out = ""
  let at = 0
  while (at < raw.length) {
    const amp = raw.indexOf("&", at)
    if (amp === -1) {
      out += raw.slice(at)
      break
    }
    out += raw.slice(at, amp)
    const semi = raw.indexOf(";", amp)
    if (semi === -1 || semi - amp > 12) return { error: "a bare '&' (not an entity reference)" }
    const ref = raw.slice(amp + 1, semi)
    if (ref in predefined) out += predefined[ref]
    else if (/^#[0-9]{1,7}$/.test(ref) || /^#x[0-9a-fA-F]{1,6}$/.test(ref)) {
      const code = ref[1] === "x" ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10)
      const valid =
        code === 0x9 ||
        code === 0xa ||
        code === 0xd ||
        (code >= 0x20 && code <= 0xd7ff) ||
        (code >= 0xe000 && code <= 0xfffd) ||
        (code >= 0x10000 && code <= 0x10ffff)
      if (!valid) return { error: `the character reference &${ref}; names a character XML does not allow` }
      out += String.fromCodePoint(code)
    } else {
      return {
        error: `the entity reference &${ref.slice(0, 20)}; (XMPP allows only the predefined entities and character references)`
      }
    }
    at = semi + 1
  }
  return out
}

const startsWith = (bytes: Uint8Array, at: number, ascii: string): boolean | "incomplete" => {
  for (let i = 0; i < ascii.length; i++) {
    if (at + i >= bytes.length) return "incomplete"
    if (bytes[at + i] !== ascii.charCodeAt(i)) return false
  }
  return true
}

const scanName = (bytes: Uint8Array, at: number): number => {
  let i = at
  while (i < bytes.length && !isSpace(bytes[i]) && bytes[i] !== GT && bytes[i] !== SLASH && bytes[i] !== EQ) i++
  return i
}

const tagToken = (bytes: Uint8Array, at: number): TokenResult => {
  // at points just after "<"
  let i = scanName(bytes, at)
  if (i >= bytes.length) return "incomplete"
  const name = decode(bytes.subarray(at, i))
  if (name === undefined || !qNamePattern.test(name)) return { error: `a malformed element name` }
  const attributes: Array<readonly [string, string]> = []
  while (true) {
    const beforeSpace = i
    while (i < bytes.length && isSpace(bytes[i])) i++
    if (i >= bytes.length) return "incomplete"
    if (bytes[i] === GT) return { kind: "open", name, attributes, selfClosing: false, end: i + 1 }
    if (bytes[i] === SLASH) {
      if (i + 1 >= bytes.length) return "incomplete"
      if (bytes[i + 1] !== GT) return { error: `a malformed tag <${name}>` }
      return { kind: "open", name, attributes, selfClosing: true, end: i + 2 }
    }
    if (i === beforeSpace) return { error: `a malformed tag <${name}> (no space before an attribute)` }
    const nameAt = i
    i = scanName(bytes, i)
    if (i >= bytes.length) return "incomplete"
    const attribute = decode(bytes.subarray(nameAt, i))
    if (attribute === undefined || !qNamePattern.test(attribute)) {
      return { error: `a malformed attribute name in <${name}>` }
    }
    while (i < bytes.length && isSpace(bytes[i])) i++
    if (i >= bytes.length) return "incomplete"
    if (bytes[i] !== EQ) return { error: `attribute ${attribute} of <${name}> has no value` }
    i++
    while (i < bytes.length && isSpace(bytes[i])) i++
    if (i >= bytes.length) return "incomplete"
    const quote = bytes[i]
    if (quote !== 0x22 && quote !== 0x27) return { error: `attribute ${attribute} of <${name}> is not quoted` }
    const close = bytes.indexOf(quote, i + 1)
    if (close === -1) {
      if (bytes.indexOf(LT, i + 1) !== -1) return { error: `'<' inside attribute ${attribute} of <${name}>` }
      return "incomplete"
    }
    const rawValue = bytes.subarray(i + 1, close)
    if (rawValue.includes(LT)) return { error: `'<' inside attribute ${attribute} of <${name}>` }
    const text = decode(rawValue)
    if (text === undefined) return { error: `attribute ${attribute} of <${name}> is not UTF-8` }
    const value = unescape(text)
    if (typeof value !== "string") return { error: `attribute ${attribute} of <${name}>: ${value.error}` }
    if (attributes.some(([n]) => n === attribute)) return { error: `attribute ${attribute} repeated in <${name}>` }
    attributes.push([attribute, value.replace(/[\t\n\r]/g, " ")])
    i = close + 1
  }
}

/** The next token at `at`, "incomplete" when the buffer ends inside it, or an error. */
const nextToken = (bytes: Uint8Array, at: number): TokenResult => {
  if (at >= bytes.length) return "incomplete"
  if (bytes[at] !== LT) {
    const lt = bytes.indexOf(LT, at)
    // Text is complete only once the next markup starts; XMPP never ends a stream inside character data.
    if (lt === -1) {
      // still check what arrived, so that garbage fails early instead of filling the buffer
      for (let i = at; i < bytes.length; i++) {
        const b = bytes[i]
        if (b < 0x20 && !isSpace(b)) return { error: "a character XML does not allow" }
      }
      return "incomplete"
    }
    const raw = decode(bytes.subarray(at, lt))
    if (raw === undefined) return { error: "text that is not UTF-8" }
    if (raw.includes("]]>")) return { error: "']]>' in character data" }
    const text = unescape(raw)
    if (typeof text !== "string") return { error: text.error }
    return { kind: "text", text, end: lt }
  }
  if (at + 1 >= bytes.length) return "incomplete"
  const second = bytes[at + 1]
  if (second === BANG) {
    return { error: "a DOCTYPE, entity declaration, comment or CDATA section (not allowed in XMPP)" }
  }
  if (second === QMARK) {
    const isXml = startsWith(bytes, at + 2, "xml")
    if (isXml === "incomplete") return "incomplete"
    if (at + 5 >= bytes.length) return "incomplete"
    if (!isXml || !(isSpace(bytes[at + 5]) || bytes[at + 5] === QMARK)) {
      return { error: "a processing instruction (not allowed in XMPP)" }
    }
    for (let i = at + 5; i + 1 < bytes.length; i++) {
      if (bytes[i] === QMARK && bytes[i + 1] === GT) {
        const content = decode(bytes.subarray(at + 5, i))
        if (content === undefined) return { error: "an XML declaration that is not UTF-8" }
        return { kind: "declaration", content: content.trim(), end: i + 2 }
      }
      if (bytes[i] === LT || bytes[i] === GT) return { error: "a malformed XML declaration" }
    }
    return "incomplete"
  }
  if (second === SLASH) {
    const i = scanName(bytes, at + 2)
    let j = i
    while (j < bytes.length && isSpace(bytes[j])) j++
    if (j >= bytes.length) return "incomplete"
    if (bytes[j] !== GT) return { error: "a malformed closing tag" }
    const name = decode(bytes.subarray(at + 2, i))
    if (name === undefined || !qNamePattern.test(name)) return { error: "a malformed closing tag" }
    return { kind: "close", name, end: j + 1 }
  }
  return tagToken(bytes, at + 1)
}

const declarationPattern =
  /^version\s*=\s*(['"])1\.[0-9]+\1(\s+encoding\s*=\s*(['"])[A-Za-z][A-Za-z0-9._-]*\3)?(\s+standalone\s*=\s*(['"])(yes|no)\5)?$/

const checkDeclaration = (content: string): string | undefined => {
  const match = declarationPattern.exec(content)
  if (match === null) return "a malformed XML declaration"
  const encoding = /encoding\s*=\s*['"]([^'"]+)['"]/.exec(content)?.[1]
  if (encoding !== undefined && encoding.toLowerCase() !== "utf-8") {
    return `an XML declaration with encoding ${encoding} (XMPP is UTF-8)`
  }
  return undefined
}

// -- Namespaces and elements --------------------------------------------------------------------------------------

type Scope = ReadonlyMap<string, string>

interface Building {
  readonly qname: string
  readonly scope: Scope
  readonly ns: string
  readonly local: string
  readonly attributes: Map<string, string>
  readonly children: Array<XmlElement>
  text: string
}

const resolve = (
  token: Extract<Token, { kind: "open" }>,
  parent: Scope,
  maxAttributes: number
): { readonly building: Building } | { readonly error: string } => {
  if (token.attributes.length > maxAttributes) return { error: `<${token.name}> has too many attributes` }
  let scope: Map<string, string> | undefined
  const attributes = new Map<string, string>()
  for (const [name, value] of token.attributes) {
    if (name === "xmlns" || name.startsWith("xmlns:")) {
      const prefix = name === "xmlns" ? "" : name.slice(6)
      if (prefix === "xmlns" || (prefix === "xml" && value !== XML_NS)) {
        return { error: `<${token.name}> redeclares the reserved prefix ${prefix}` }
      }
      if (prefix !== "" && value === "") return { error: `<${token.name}> undeclares the prefix ${prefix}` }
      if (value === XMLNS_NS) return { error: `<${token.name}> binds the reserved xmlns namespace` }
      scope ??= new Map(parent)
      scope.set(prefix, value)
    } else {
      attributes.set(name, value)
    }
  }
  const effective: Scope = scope ?? parent
  const colon = token.name.indexOf(":")
  const prefix = colon === -1 ? "" : token.name.slice(0, colon)
  const local = colon === -1 ? token.name : token.name.slice(colon + 1)
  const ns = prefix === "xml" ? XML_NS : effective.get(prefix)
  if (ns === undefined && prefix !== "") return { error: `<${token.name}> uses the undeclared prefix ${prefix}` }
  for (const name of attributes.keys()) {
    const at = name.indexOf(":")
    if (at !== -1) {
      const p = name.slice(0, at)
      if (p !== "xml" && !effective.has(p)) return { error: `attribute ${name} uses the undeclared prefix ${p}` }
    }
  }
  return {
    building: { qname: token.name, scope: effective, ns: ns ?? "", local, attributes, children: [], text: "" }
  }
}

const finish = (b: Building): XmlElement => ({
  ns: b.ns,
  local: b.local,
  attributes: b.attributes,
  children: b.children,
  text: b.text
})

/**
 * Reads one XMPP stream: the XML declaration (optional, first bytes only), the stream header, then top-level
 * elements one at a time. Call `next` with the session's unconsumed bytes; after a `header` or `element` event,
 * consume `end` bytes and call `consumed(end)` before the next call.
 */
export class XmppStreamReader {
  private offset = 0
  private phase: "start" | "prolog" | "stream" | "closed" = "start"
  private streamScope: Scope = new Map()
  private streamName = ""
  private stack: Array<Building> = []
  private elements = 0
  private readonly maxDepth: number
  private readonly maxElements: number
  private readonly maxAttributes: number

  constructor(limits: Limits = {}) {
    this.maxDepth = limits.maxDepth ?? 16
    this.maxElements = limits.maxElements ?? 512
    this.maxAttributes = limits.maxAttributes ?? 64
  }

  /** The caller consumed `n` bytes from the front of the buffer (what an event's `end` said). */
  consumed(n: number): void {
    this.offset -= n
    if (this.offset < 0) this.offset = 0
  }

  next(bytes: Uint8Array): StreamEvent {
    while (true) {
      const token = nextToken(bytes, this.offset)
      if (token === "incomplete") return { type: "more" }
      if ("error" in token) return { type: "error", message: token.error }
      const event = this.step(token)
      if (event !== undefined) return event
    }
  }

  private step(token: Token): StreamEvent | undefined {
    const fail = (message: string): StreamEvent => ({ type: "error", message })
    if (this.phase === "closed") return fail("data after the end of the stream")
    if (token.kind === "declaration") {
      if (this.phase !== "start" || this.offset !== 0) return fail("an XML declaration that is not at the start")
      const problem = checkDeclaration(token.content)
      if (problem !== undefined) return fail(problem)
      this.phase = "prolog"
      this.offset = token.end
      return undefined
    }
    if (token.kind === "text") {
      if (this.stack.length === 0) {
        if (!/^[ \t\r\n]*$/.test(token.text)) {
          return fail(this.phase === "stream" ? "text between stream elements" : "text before the stream header")
        }
      } else {
        const top = this.stack[this.stack.length - 1]
        top.text += token.text
        if (top.text.length > 65536) return fail("too much text in an element")
      }
      if (this.phase === "start") this.phase = "prolog"
      this.offset = token.end
      return undefined
    }
    if (this.phase === "start" || this.phase === "prolog") {
      if (token.kind === "close") return fail(`a closing tag </${token.name}> before the stream header`)
      const resolved = resolve(token, new Map(), this.maxAttributes)
      if ("error" in resolved) return fail(resolved.error)
      const header = resolved.building
      if (header.ns !== STREAMS_NS || header.local !== "stream") {
        return fail(`<${token.name}> where the stream header (${STREAMS_NS} stream) was expected`)
      }
      if (token.selfClosing) return fail("an empty stream (<stream/>)")
      this.phase = "stream"
      this.streamScope = header.scope
      this.streamName = token.name
      this.offset = token.end
      return { type: "header", element: finish(header), namespaces: header.scope, end: token.end }
    }
    // inside the stream
    if (token.kind === "close") {
      if (this.stack.length === 0) {
        if (token.name !== this.streamName) return fail(`a closing tag </${token.name}> that matches nothing`)
        this.phase = "closed"
        this.offset = token.end
        return { type: "close", end: token.end }
      }
      const top = this.stack.pop()!
      if (top.qname !== token.name) return fail(`</${token.name}> closes <${top.qname}>`)
      this.offset = token.end
      return this.completed(finish(top), token.end)
    }
    if (token.kind === "open") {
      if (this.stack.length >= this.maxDepth) return fail("elements nested too deeply")
      if (++this.elements > this.maxElements) return fail("too many elements")
      const parent = this.stack.length === 0 ? this.streamScope : this.stack[this.stack.length - 1].scope
      const resolved = resolve(token, parent, this.maxAttributes)
      if ("error" in resolved) return fail(resolved.error)
      this.offset = token.end
      if (token.selfClosing) return this.completed(finish(resolved.building), token.end)
      this.stack.push(resolved.building)
      return undefined
    }
    return fail("an XML declaration inside the stream")
  }

  private completed(element: XmlElement, end: number): StreamEvent | undefined {
    if (this.stack.length === 0) {
      this.elements = 0
      return { type: "element", element, end }
    }
    this.stack[this.stack.length - 1].children.push(element)
    return undefined
  }
}

/** `'` and `"` safe attribute text. */
export const escapeAttribute = (value: string): string =>
  value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/'/g, "&apos;")
    .replace(/"/g, "&quot;")

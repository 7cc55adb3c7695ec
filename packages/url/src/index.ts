/**
 * @netdial/url: PHP-style socket transport URLs (`tcp://host:port`, `udp://…`, `tls://[::1]:443`, `unix:///path`),
 * parsed strictly into typed values and formatted canonically. Pure: no `node:` imports, runs anywhere.
 */
export { defaultMaxUnixPathBytes, fromHostPort, type ParseOptions, parse } from "./Parse.ts"
export {
  defaultScheme,
  isKnownScheme,
  isSchemeToken,
  type KnownScheme,
  knownSchemes,
  pathSchemes,
  type Scheme
} from "./Scheme.ts"
export {
  format,
  formatUrlHost,
  type HostKind,
  type InetTransportUrl,
  isTransportUrl,
  type TransportUrl,
  type UnixTransportUrl
} from "./TransportUrl.ts"
export { reasons, TransportUrlError, type TransportUrlErrorReason } from "./TransportUrlError.ts"
export {
  TransportUrl as TransportUrlSchema,
  TransportUrlFromString,
  transportUrlFromString
} from "./TransportUrlSchema.ts"

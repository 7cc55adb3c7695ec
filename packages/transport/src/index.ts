/**
 * @netdial/transport: dial and serve transport URLs — tcp, udp, ssl/tls (every version), unix — as Effect services
 * on Node. Start with `Transports.layerNode` and `yield* Transports`.
 */
export * as AddressPolicy from "./AddressPolicy.ts"
export { type Connection, isConnection } from "./Connection.ts"
export type { Listener, ListenerStats } from "./Listener.ts"
export { BindOptions, ConnectOptions, ListenOptions } from "./Options.ts"
export { DurationInput } from "./SocketOptions.ts"
export * as Tls from "./Tls.ts"
export type { PeerCertificate, TlsDetails } from "./TlsInfo.ts"
export {
  refusedScheme,
  type TlsClientOptions,
  type TlsServerOptions,
  type TlsVersion,
  tlsVersions,
  versionOfScheme
} from "./TlsOptions.ts"
export {
  type TlsProblem,
  TransportError,
  type TransportErrorReason,
  tlsProblems,
  transportErrorReasons
} from "./TransportError.ts"
export {
  alias,
  builtins,
  type Transport,
  type TransportInfo,
  Transports,
  type TransportsService
} from "./Transports.ts"
export type { Datagram, DatagramEndpoint } from "./Udp.ts"

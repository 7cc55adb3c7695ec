/**
 * @netdial/starttls: upgrade a live connection to TLS, with injection-proof dialogues for the common protocols.
 */

export {
  type DialogueOptions,
  type DialogueResult,
  type Policy,
  type Protocol,
  type ProtocolName,
  protocolNames
} from "./Protocol.ts"
export { protocols } from "./protocols/index.ts"
export * as Session from "./Session.ts"
export {
  type SmtpCredentials,
  type SmtpEnvelope,
  type SmtpServerOptions,
  serveSmtp,
  serveSmtpConnection
} from "./SmtpServer.ts"
export {
  type ConnectMode,
  type ConnectStartTlsOptions,
  connect,
  type DefaultPorts,
  defaultPorts,
  discover,
  enableCrypto,
  resolveProtocol,
  type StartTlsOptions,
  type StartTlsResult,
  startTls
} from "./StartTls.ts"
export { fromTransport, StartTlsError, type StartTlsErrorReason, startTlsErrorReasons } from "./StartTlsError.ts"

/**
 * @netdial/starttls: upgrade a live connection to TLS, with injection-proof dialogues for the common protocols.
 */
export * as Session from "./Session.ts"
export { fromTransport, StartTlsError, type StartTlsErrorReason, startTlsErrorReasons } from "./StartTlsError.ts"
export {
  type DialogueOptions,
  type DialogueResult,
  type Policy,
  type Protocol,
  type ProtocolName,
  protocolNames
} from "./Protocol.ts"

/** The port a STARTTLS protocol uses when the URL has none: the plain port, or the implicit one for tls://. */
import { defaultPorts, type ProtocolName } from "@netdial/starttls"

export const defaultPortFor = (protocol: ProtocolName, input: string): number | undefined => {
  const ports = defaultPorts[protocol]
  const tls = /^(ssl|tls|tlsv1\.[0-3]):\/\//i.test(input)
  return tls ? (ports.implicit ?? ports.plain) : (ports.plain ?? ports.implicit)
}

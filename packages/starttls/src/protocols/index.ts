/**
 * Every dialogue netdial knows, by the name `startTls(connection, "smtp")` takes.
 */
import type { Protocol, ProtocolName } from "../Protocol.ts"
import { ftp } from "./ftp.ts"
import { imap } from "./imap.ts"
import { irc } from "./irc.ts"
import { ldap } from "./ldap.ts"
import { mysql } from "./mysql.ts"
import { nntp } from "./nntp.ts"
import { pop3 } from "./pop3.ts"
import { postgres } from "./postgres.ts"
import { sieve } from "./sieve.ts"
import { lmtp, smtp } from "./smtp.ts"
import { xmpp, xmppServer } from "./xmpp.ts"

/** The registry: one dialogue per name of `protocolNames`. */
export const protocols: Readonly<Record<ProtocolName, Protocol>> = {
  smtp,
  lmtp,
  imap,
  pop3,
  ftp,
  xmpp,
  "xmpp-server": xmppServer,
  irc,
  postgres,
  mysql,
  nntp,
  sieve,
  ldap
}

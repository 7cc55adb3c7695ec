/**
 * STARTTLS against real servers on loopback (Debian 12 packages, installed by `.ci/interop-servers.sh`): Postfix,
 * Dovecot (IMAP, POP3, LMTP, ManageSieve), vsftpd, OpenLDAP slapd, PostgreSQL 15, MariaDB, Prosody, INN (nnrpd) and
 * InspIRCd. Each server is started once for its block, from a fresh temp dir, on 127.0.0.1 (test/interop/servers.ts),
 * and killed with its whole process group when the block's last test is done. A server whose package is missing
 * skips its tests, with the package named in the test names (`… [skipped: needs postfix (…)]`); its daemon is then
 * never started.
 *
 * For each server: `connect(…, { mode: "starttls" })` with the test CA gives a verified TLS session and the
 * capabilities the server really announces over TLS, compared with the plaintext ones; the returned connection
 * carries the protocol on (a command or login over TLS gets the server's answer: nothing was lost or left behind);
 * `mode: "implicit"` where the server has an implicit-TLS port; and failures against the real server: no test CA →
 * `TlsFailed` whose cause has `tlsProblem: "UnknownCa"`, a wrong peer name → `HostnameMismatch`, a server that offers
 * no upgrade → `CapabilityMissing` (or `encrypted: false` when opportunistic), and the like. Every step is bounded by
 * `stepTimeout`, every server start by 20 s per attempt.
 */
import { expect, layer } from "@effect/vitest"
import { type TlsProblem, TransportError, Transports } from "@netdial/transport"
import { Context, Effect, Layer, type Scope } from "effect"
import type { DialogueResult } from "../src/Protocol.ts"
import { capabilityFlags, type MysqlDialogue } from "../src/protocols/mysql.ts"
import * as Session from "../src/Session.ts"
import { type ConnectStartTlsOptions, connect, type StartTlsResult } from "../src/StartTls.ts"
import { StartTlsError, type StartTlsErrorReason } from "../src/StartTlsError.ts"
import {
  dovecot,
  dovecotRequirement,
  inn,
  inspircd,
  mariadb,
  postfix,
  postgresql,
  prosody,
  type Running,
  type Server,
  slapd,
  vsftpd
} from "./interop/servers.ts"
import type { Requirement } from "./interop/tools.ts"

const STEP = "10 seconds"

// Said once per run, so that a CI log shows what was not tested and why even when the reporter folds skipped tests.
{
  const requirements: ReadonlyArray<readonly [string, Requirement]> = [
    ["postfix", postfix.requirement],
    ...Object.entries(dovecotRequirement).map(
      ([protocol, requirement]) => [`dovecot ${protocol}`, requirement] as const
    ),
    ["vsftpd", vsftpd.requirement],
    ["slapd", slapd.requirement],
    ["postgresql", postgresql.requirement],
    ["mariadb", mariadb.requirement],
    ["prosody", prosody.requirement],
    ["inn2", inn.requirement],
    ["inspircd", inspircd.requirement]
  ]
  for (const [name, requirement] of requirements) {
    if (!requirement.available) console.log(`[interop] ${name}: tests skipped${requirement.needs}`)
  }
}

// -- harness ------------------------------------------------------------------------------------------------------------

type Body<Port extends string> = (server: Running<Port>) => Effect.Effect<void, unknown, Transports | Scope.Scope>

/**
 * One `describe` block per server. Its layer (Transports + the running server) is built when the first test that is
 * not skipped runs, and closed (daemon killed, temp dir removed) after the block's last test. `test(requirement,
 * name, body)` skips with `requirement.needs` in the name; a failing body prints the server's log.
 */
const suite = <Port extends string>(
  server: Server<Port>,
  title: string,
  tests: (test: (requirement: Requirement, name: string, body: Body<Port>) => void) => void
) => {
  const Server = Context.Service<Running<Port>>(`netdial/interop/${server.name}`)
  const serverLayer = Layer.merge(Transports.layerNode, Layer.effect(Server, server.start))
  layer(serverLayer, { excludeTestServices: true, timeout: "120 seconds" })(title, (it) => {
    tests((requirement, name, body) =>
      it.effect.skipIf(!requirement.available)(`${name}${requirement.needs}`, () =>
        Effect.flatMap(Server, (running) =>
          body(running).pipe(
            Effect.tapCause(() =>
              Effect.sync(() =>
                console.log(`--- ${running.name} output (last 8000 chars) ---\n${running.output().slice(-8000)}`)
              )
            )
          )
        )
      )
    )
  })
}

const url = (port: number) => `tcp://127.0.0.1:${port}`

/** Trust the test CA, check the name on its server certificate (localhost), bounded steps. */
const trusted = (server: Running<string>, options: ConnectStartTlsOptions = {}): ConnectStartTlsOptions => {
  const tls = { ca: server.pki.ca.certPem, peerName: "localhost", ...options.tls }
  return { stepTimeout: STEP, ...options, tls }
}

/** The default trust store (no test CA), the right name. */
const untrusted = (options: ConnectStartTlsOptions = {}): ConnectStartTlsOptions => {
  const tls = { peerName: "localhost", ...options.tls }
  return { stepTimeout: STEP, ...options, tls }
}

/** A verified TLS session: TLS 1.2 or 1.3, SNI localhost, the chain and name checked. */
const expectVerified = (result: DialogueResult) => {
  expect(result.encrypted).toBe(true)
  expect(result.tls?.authorized).toBe(true)
  expect(result.tls?.servername).toBe("localhost")
  expect(["TLSv1.2", "TLSv1.3"]).toContain(result.tls?.protocol)
}

/** Case-insensitive: is `name` a capability (alone, or as the first word of one)? */
const has = (capabilities: ReadonlyArray<string>, name: string) =>
  capabilities.some(
    (c) => c.toUpperCase() === name.toUpperCase() || c.toUpperCase().startsWith(`${name.toUpperCase()} `)
  )

/** The plaintext list without `name`: what these servers announce over TLS when only the upgrade goes away. */
const without = (capabilities: ReadonlyArray<string>, name: string) =>
  capabilities.filter((c) => c.toUpperCase() !== name.toUpperCase())

/**
 * The session goes on over the TLS connection `connect` returned: `ask` writes a command and reads lines until one
 * matches `last` (at most 100 lines, each within the step timeout); the lines are returned.
 */
const converse = (result: StartTlsResult, protocol: string) =>
  Effect.gen(function* () {
    expect(result.connection.tls).toBeDefined()
    const session = yield* Session.make(result.connection, { protocol, stepTimeout: STEP })
    const ask = (command: string | Uint8Array, last: RegExp) =>
      Effect.gen(function* () {
        if (command.length > 0) yield* session.write(command, "after TLS")
        const lines: Array<string> = []
        while (lines.length < 100) {
          const line = yield* session.readLine("after TLS")
          lines.push(line)
          if (last.test(line)) return lines
        }
        return yield* Effect.die(new Error(`no line matching ${last} in ${JSON.stringify(lines)}`))
      })
    return { session, ask }
  })

/** The attempt fails with a StartTlsError of this reason (and step); returns it for more checks. */
const expectFailure = <R>(
  attempt: Effect.Effect<unknown, unknown, R>,
  reason: StartTlsErrorReason,
  step?: string
): Effect.Effect<StartTlsError, never, R> =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(attempt).pipe(Effect.orDie)
    expect(error, String(error)).toBeInstanceOf(StartTlsError)
    const failure = error as StartTlsError
    expect(failure.reason, failure.message).toBe(reason)
    if (step !== undefined) expect(failure.step, failure.message).toBe(step)
    return failure
  })

/** `TlsFailed` in the handshake, caused by the handshake's TransportError with this `tlsProblem`. */
const expectTlsFailure = <R>(
  attempt: Effect.Effect<unknown, unknown, R>,
  problem: TlsProblem
): Effect.Effect<StartTlsError, never, R> =>
  Effect.gen(function* () {
    const failure = yield* expectFailure(attempt, "TlsFailed", "handshake")
    expect(failure.cause).toBeInstanceOf(TransportError)
    expect((failure.cause as TransportError).tlsProblem, failure.message).toBe(problem)
    return failure
  })

/**
 * Every server here sends the chain leaf + test CA; without the test CA OpenSSL reports SELF_SIGNED_CERT_IN_CHAIN,
 * which @netdial/transport classifies as `UnknownCa` (a root nobody trusts), not `SelfSigned` (a self-signed leaf).
 */
const NO_CA: TlsProblem = "UnknownCa"

// -- Postfix ------------------------------------------------------------------------------------------------------------

suite(postfix, "interop: postfix (smtp)", (test) => {
  const needs = postfix.requirement

  test(needs, "smtp STARTTLS: verified; the EHLO list over TLS is the plaintext one without STARTTLS", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.smtp), "smtp", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(has(result.capabilitiesBeforeTls, "STARTTLS")).toBe(true)
      expect(has(result.capabilities, "PIPELINING")).toBe(true)
      expect(result.capabilities).toEqual(without(result.capabilitiesBeforeTls, "STARTTLS"))
    })
  )

  test(needs, "smtp: the session goes on over TLS (NOOP → 250, QUIT → 221)", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.smtp), "smtp", trusted(server, { mode: "starttls" }))
      const { ask } = yield* converse(result, "smtp")
      expect(yield* ask("NOOP\r\n", /^\d{3} /)).toEqual(["250 2.0.0 Ok"])
      expect(yield* ask("QUIT\r\n", /^\d{3} /)).toEqual(["221 2.0.0 Bye"])
    })
  )

  test(needs, "submission (smtpd_tls_security_level=encrypt): STARTTLS, STARTTLS gone after TLS", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.submission), "smtp", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(has(result.capabilitiesBeforeTls, "STARTTLS")).toBe(true)
      expect(has(result.capabilities, "STARTTLS")).toBe(false)
    })
  )

  test(needs, "smtps (smtpd_tls_wrappermode=yes): implicit TLS, no STARTTLS offered inside", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.smtps), "smtp", trusted(server, { mode: "implicit" }))
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(has(result.capabilities, "PIPELINING")).toBe(true)
      expect(has(result.capabilities, "STARTTLS")).toBe(false)
    })
  )

  test(needs, "no test CA: TlsFailed (UnknownCa), for STARTTLS and implicit TLS", (server) =>
    Effect.gen(function* () {
      yield* expectTlsFailure(connect(url(server.ports.smtp), "smtp", untrusted({ mode: "starttls" })), NO_CA)
      yield* expectTlsFailure(connect(url(server.ports.smtps), "smtp", untrusted({ mode: "implicit" })), NO_CA)
    })
  )

  test(needs, "peerName mail.example: TlsFailed (HostnameMismatch)", (server) =>
    Effect.gen(function* () {
      const options = trusted(server, { mode: "starttls", tls: { peerName: "mail.example" } })
      yield* expectTlsFailure(connect(url(server.ports.smtp), "smtp", options), "HostnameMismatch")
    })
  )

  test(
    needs,
    "a listener with smtpd_tls_security_level=none: CapabilityMissing; opportunistic stays plaintext",
    (server) =>
      Effect.gen(function* () {
        const failure = yield* expectFailure(
          connect(url(server.ports.notls), "smtp", trusted(server, { mode: "starttls" })),
          "CapabilityMissing",
          "capabilities"
        )
        expect(failure.reply).toContain("250 CHUNKING")
        const plain = yield* connect(url(server.ports.notls), "smtp", trusted(server, { mode: "opportunistic" }))
        expect(plain.encrypted).toBe(false)
        expect(plain.tls).toBeUndefined()
        expect(has(plain.capabilities, "STARTTLS")).toBe(false)
      })
  )

  test(needs, "implicit TLS against the plaintext port: TlsFailed (NotTls), no plaintext fallback", (server) =>
    Effect.gen(function* () {
      yield* expectTlsFailure(connect(url(server.ports.smtp), "smtp", trusted(server, { mode: "implicit" })), "NotTls")
    })
  )

  test(
    needs,
    "STARTTLS against the smtps port (the server waits for a ClientHello): TimedOut at the greeting",
    (server) =>
      Effect.gen(function* () {
        yield* expectFailure(
          connect(url(server.ports.smtps), "smtp", trusted(server, { mode: "starttls", stepTimeout: "1 second" })),
          "TimedOut",
          "greeting"
        )
      })
  )
})

// -- Dovecot ------------------------------------------------------------------------------------------------------------

suite(dovecot, "interop: dovecot (imap, pop3, lmtp, sieve)", (test) => {
  const { imap, pop3, lmtp, sieve } = dovecotRequirement

  test(imap, "imap STARTTLS: verified; CAPABILITY over TLS is the plaintext one without STARTTLS", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.imap), "imap", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(has(result.capabilitiesBeforeTls, "STARTTLS")).toBe(true)
      expect(has(result.capabilities, "IMAP4rev1")).toBe(true)
      expect(result.capabilities).toEqual(without(result.capabilitiesBeforeTls, "STARTTLS"))
    })
  )

  test(imap, "imap: the session goes on over TLS (NOOP, LOGOUT)", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.imap), "imap", trusted(server, { mode: "starttls" }))
      const { ask } = yield* converse(result, "imap")
      expect((yield* ask("n1 NOOP\r\n", /^n1 /)).at(-1)).toMatch(/^n1 OK/)
      const bye = yield* ask("n2 LOGOUT\r\n", /^n2 /)
      expect(bye[0]).toMatch(/^\* BYE/)
      expect(bye.at(-1)).toMatch(/^n2 OK/)
    })
  )

  test(imap, "imaps: implicit TLS", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.imaps), "imap", trusted(server, { mode: "implicit" }))
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(has(result.capabilities, "IMAP4rev1")).toBe(true)
      expect(has(result.capabilities, "STARTTLS")).toBe(false)
    })
  )

  test(imap, "imap, no test CA: TlsFailed (UnknownCa), for STARTTLS and implicit TLS", (server) =>
    Effect.gen(function* () {
      yield* expectTlsFailure(connect(url(server.ports.imap), "imap", untrusted({ mode: "starttls" })), NO_CA)
      yield* expectTlsFailure(connect(url(server.ports.imaps), "imap", untrusted({ mode: "implicit" })), NO_CA)
    })
  )

  test(imap, "imap dialogue against the pop3 port: UnexpectedReply at the greeting, with the reply", (server) =>
    Effect.gen(function* () {
      const failure = yield* expectFailure(
        connect(url(server.ports.pop3), "imap", trusted(server, { mode: "starttls" })),
        "UnexpectedReply",
        "greeting"
      )
      expect(failure.reply).toMatch(/^\+OK /)
    })
  )

  test(pop3, "pop3 STLS: verified; CAPA over TLS is the plaintext one without STLS", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.pop3), "pop3", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(has(result.capabilitiesBeforeTls, "STLS")).toBe(true)
      expect(has(result.capabilities, "USER")).toBe(true)
      expect(result.capabilities).toEqual(without(result.capabilitiesBeforeTls, "STLS"))
    })
  )

  test(pop3, "pop3: the session goes on over TLS (USER → +OK, QUIT → +OK)", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.pop3), "pop3", trusted(server, { mode: "starttls" }))
      const { ask } = yield* converse(result, "pop3")
      expect((yield* ask("USER netdial\r\n", /^[+-]/))[0]).toMatch(/^\+OK/)
      expect((yield* ask("QUIT\r\n", /^[+-]/))[0]).toMatch(/^\+OK/)
    })
  )

  test(pop3, "pop3s: implicit TLS", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.pop3s), "pop3", trusted(server, { mode: "implicit" }))
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(has(result.capabilities, "USER")).toBe(true)
      expect(has(result.capabilities, "STLS")).toBe(false)
    })
  )

  test(pop3, "pop3, peerName mail.example: TlsFailed (HostnameMismatch)", (server) =>
    Effect.gen(function* () {
      const options = trusted(server, { mode: "starttls", tls: { peerName: "mail.example" } })
      yield* expectTlsFailure(connect(url(server.ports.pop3), "pop3", options), "HostnameMismatch")
    })
  )

  test(lmtp, "lmtp STARTTLS (LHLO): verified; LHLO over TLS is the plaintext list without STARTTLS", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.lmtp), "lmtp", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(has(result.capabilitiesBeforeTls, "STARTTLS")).toBe(true)
      expect(result.capabilities).toEqual(without(result.capabilitiesBeforeTls, "STARTTLS"))
    })
  )

  test(lmtp, "lmtp: the session goes on over TLS (NOOP → 250)", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.lmtp), "lmtp", trusted(server, { mode: "starttls" }))
      const { ask } = yield* converse(result, "lmtp")
      expect((yield* ask("NOOP\r\n", /^\d{3} /))[0]).toMatch(/^250 /)
    })
  )

  test(lmtp, "lmtp, no test CA: TlsFailed (UnknownCa)", (server) =>
    Effect.gen(function* () {
      yield* expectTlsFailure(connect(url(server.ports.lmtp), "lmtp", untrusted({ mode: "starttls" })), NO_CA)
    })
  )

  test(sieve, "sieve STARTTLS: verified; the capabilities the server resends over TLS lack STARTTLS", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.sieve), "sieve", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(has(result.capabilitiesBeforeTls, "STARTTLS")).toBe(true)
      expect(has(result.capabilities, "IMPLEMENTATION")).toBe(true)
      expect(result.capabilities).toEqual(without(result.capabilitiesBeforeTls, "STARTTLS"))
    })
  )

  test(sieve, "sieve: the session goes on over TLS (NOOP → OK, LOGOUT → OK)", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.sieve), "sieve", trusted(server, { mode: "starttls" }))
      const { ask } = yield* converse(result, "sieve")
      expect((yield* ask("NOOP\r\n", /^(OK|NO|BYE)\b/)).at(-1)).toMatch(/^OK/)
      expect((yield* ask("LOGOUT\r\n", /^(OK|NO|BYE)\b/)).at(-1)).toMatch(/^OK/)
    })
  )

  test(sieve, "sieve, no test CA: TlsFailed (UnknownCa)", (server) =>
    Effect.gen(function* () {
      yield* expectTlsFailure(connect(url(server.ports.sieve), "sieve", untrusted({ mode: "starttls" })), NO_CA)
    })
  )
})

// -- vsftpd -------------------------------------------------------------------------------------------------------------

suite(vsftpd, "interop: vsftpd (ftp)", (test) => {
  const needs = vsftpd.requirement

  test(needs, "ftp AUTH TLS: verified; vsftpd's FEAT is the same over TLS (AUTH TLS, PBSZ, PROT)", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.ftp), "ftp", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(has(result.capabilitiesBeforeTls, "AUTH TLS")).toBe(true)
      expect(has(result.capabilities, "PBSZ")).toBe(true)
      expect(has(result.capabilities, "PROT")).toBe(true)
      expect(result.capabilities).toEqual(result.capabilitiesBeforeTls)
    })
  )

  test(needs, "ftp: the control connection goes on over TLS (PBSZ 0 → 200, PROT P → 200, QUIT → 221)", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.ftp), "ftp", trusted(server, { mode: "starttls" }))
      const { ask } = yield* converse(result, "ftp")
      expect((yield* ask("PBSZ 0\r\n", /^\d{3} /))[0]).toMatch(/^200 /)
      expect((yield* ask("PROT P\r\n", /^\d{3} /))[0]).toMatch(/^200 /)
      expect((yield* ask("QUIT\r\n", /^\d{3} /))[0]).toMatch(/^221 /)
    })
  )

  test(needs, "ftps (implicit_ssl=YES): implicit TLS", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.ftps), "ftp", trusted(server, { mode: "implicit" }))
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(has(result.capabilities, "PROT")).toBe(true)
    })
  )

  test(needs, "ftp, no test CA: TlsFailed (UnknownCa), for AUTH TLS and implicit TLS", (server) =>
    Effect.gen(function* () {
      yield* expectTlsFailure(connect(url(server.ports.ftp), "ftp", untrusted({ mode: "starttls" })), NO_CA)
      yield* expectTlsFailure(connect(url(server.ports.ftps), "ftp", untrusted({ mode: "implicit" })), NO_CA)
    })
  )

  test(needs, "a vsftpd with ssl_enable=NO: CapabilityMissing; opportunistic stays plaintext", (server) =>
    Effect.gen(function* () {
      yield* expectFailure(
        connect(url(server.ports.notls), "ftp", trusted(server, { mode: "starttls" })),
        "CapabilityMissing",
        "capabilities"
      )
      const plain = yield* connect(url(server.ports.notls), "ftp", trusted(server, { mode: "opportunistic" }))
      expect(plain.encrypted).toBe(false)
      expect(has(plain.capabilities, "AUTH TLS")).toBe(false)
    })
  )
})

// -- slapd --------------------------------------------------------------------------------------------------------------

suite(slapd, "interop: slapd (ldap)", (test) => {
  const needs = slapd.requirement

  test(needs, "ldap StartTLS extended operation → resultCode 0: verified", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.ldap), "ldap", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(result.capabilities).toEqual([])
    })
  )

  test(needs, "ldap: the session goes on over TLS (anonymous bind as message 2 → success)", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.ldap), "ldap", trusted(server, { mode: "starttls" }))
      const { session } = yield* converse(result, "ldap")
      // BindRequest { messageID 2, version 3, name "", simple "" }
      yield* session.write(
        Uint8Array.of(0x30, 0x0c, 0x02, 0x01, 0x02, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00),
        "bind"
      )
      const header = yield* session.readBytes(2, "bind")
      expect(header[0]).toBe(0x30)
      const body = yield* session.readBytes(header[1]!, "bind")
      // messageID 2, BindResponse [APPLICATION 1], resultCode success (0)
      expect([...body.subarray(0, 3)]).toEqual([0x02, 0x01, 0x02])
      expect(body[3]).toBe(0x61)
      expect([...body.subarray(5, 8)]).toEqual([0x0a, 0x01, 0x00])
    })
  )

  test(needs, "ldaps: implicit TLS", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.ldaps), "ldap", trusted(server, { mode: "implicit" }))
      expectVerified(result)
    })
  )

  test(needs, "ldap, no test CA: TlsFailed (UnknownCa), for StartTLS and ldaps", (server) =>
    Effect.gen(function* () {
      yield* expectTlsFailure(connect(url(server.ports.ldap), "ldap", untrusted({ mode: "starttls" })), NO_CA)
      yield* expectTlsFailure(connect(url(server.ports.ldaps), "ldap", untrusted({ mode: "implicit" })), NO_CA)
    })
  )

  test(needs, "ldap, peerName ldap.example: TlsFailed (HostnameMismatch)", (server) =>
    Effect.gen(function* () {
      const options = trusted(server, { mode: "starttls", tls: { peerName: "ldap.example" } })
      yield* expectTlsFailure(connect(url(server.ports.ldap), "ldap", options), "HostnameMismatch")
    })
  )
})

// -- PostgreSQL ---------------------------------------------------------------------------------------------------------

suite(postgresql, "interop: postgresql 15 (SSLRequest)", (test) => {
  const needs = postgresql.requirement

  test(needs, "postgres SSLRequest → 'S': verified", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.postgres), "postgres", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toEqual(["ssl"])
      expect(result.capabilities).toEqual([])
    })
  )

  test(needs, "postgres: the StartupMessage goes over TLS → AuthenticationOk (trust)", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.postgres), "postgres", trusted(server, { mode: "starttls" }))
      const { session } = yield* converse(result, "postgres")
      const params = new TextEncoder().encode("user\0postgres\0database\0postgres\0\0")
      const startup = new Uint8Array(8 + params.length)
      const view = new DataView(startup.buffer)
      view.setInt32(0, startup.length)
      view.setInt32(4, 196608) // protocol 3.0
      startup.set(params, 8)
      yield* session.write(startup, "startup")
      const auth = yield* session.readBytes(9, "startup")
      // 'R', length 8, AuthenticationOk (0)
      expect([...auth]).toEqual([0x52, 0, 0, 0, 8, 0, 0, 0, 0])
    })
  )

  test(needs, "postgres, no test CA: TlsFailed (UnknownCa)", (server) =>
    Effect.gen(function* () {
      yield* expectTlsFailure(connect(url(server.ports.postgres), "postgres", untrusted({ mode: "starttls" })), NO_CA)
    })
  )

  test(needs, "postgres, peerName db.example: TlsFailed (HostnameMismatch)", (server) =>
    Effect.gen(function* () {
      const options = trusted(server, { mode: "starttls", tls: { peerName: "db.example" } })
      yield* expectTlsFailure(connect(url(server.ports.postgres), "postgres", options), "HostnameMismatch")
    })
  )
})

// -- MariaDB ------------------------------------------------------------------------------------------------------------

suite(mariadb, "interop: mariadb (mysql SSLRequest)", (test) => {
  const needs = mariadb.requirement

  test(needs, "mysql SSLRequest: verified; CLIENT_SSL and CLIENT_PROTOCOL_41 in the handshake's flags", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.mysql), "mysql", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toContain("CLIENT_SSL")
      expect(result.capabilitiesBeforeTls).toContain("CLIENT_PROTOCOL_41")
    })
  )

  test(needs, "mysql: HandshakeResponse41 (sequence 2, the SSLRequest's flags) over TLS → OK for root", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.mysql), "mysql", trusted(server, { mode: "starttls" }))
      const dialogue = (result as StartTlsResult & { readonly mysql: MysqlDialogue }).mysql
      expect(dialogue.nextSequence).toBe(2)
      const flags = dialogue.clientCapabilities
      const flag = (name: string) => (flags & (capabilityFlags as Record<string, number>)[name]!) !== 0
      const encoder = new TextEncoder()
      const fixed = new Uint8Array(32)
      const view = new DataView(fixed.buffer)
      view.setUint32(0, flags >>> 0, true)
      view.setUint32(4, 16 * 1024 * 1024, true)
      fixed[8] = 0x21
      const parts: Array<Uint8Array> = [fixed, encoder.encode("root\0"), Uint8Array.of(0)] // empty auth response
      if (flag("CLIENT_CONNECT_WITH_DB")) parts.push(Uint8Array.of(0))
      if (flag("CLIENT_PLUGIN_AUTH")) parts.push(encoder.encode("mysql_native_password\0"))
      if (flag("CLIENT_CONNECT_ATTRS")) parts.push(Uint8Array.of(0))
      const length = parts.reduce((n, part) => n + part.length, 0)
      const packet = new Uint8Array(4 + length)
      packet.set([length & 0xff, (length >> 8) & 0xff, length >> 16, dialogue.nextSequence])
      let at = 4
      for (const part of parts) {
        packet.set(part, at)
        at += part.length
      }
      const { session } = yield* converse(result, "mysql")
      yield* session.write(packet, "handshake response")
      const header = yield* session.readBytes(4, "handshake response")
      const payload = yield* session.readBytes(
        header[0]! | (header[1]! << 8) | (header[2]! << 16),
        "handshake response"
      )
      expect(header[3]).toBe(3)
      expect(payload[0], new TextDecoder().decode(payload)).toBe(0x00) // OK packet
    })
  )

  test(needs, "mysql, no test CA: TlsFailed (UnknownCa)", (server) =>
    Effect.gen(function* () {
      yield* expectTlsFailure(connect(url(server.ports.mysql), "mysql", untrusted({ mode: "starttls" })), NO_CA)
    })
  )
})

// -- Prosody ------------------------------------------------------------------------------------------------------------

suite(prosody, "interop: prosody (xmpp, xmpp-server)", (test) => {
  const needs = prosody.requirement
  const xmpp = (server: Running<string>, options: ConnectStartTlsOptions) =>
    trusted(server, { domain: "localhost", ...options })

  test(needs, "xmpp c2s <starttls/>: verified; starttls:required before, SASL mechanisms after", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.c2s), "xmpp", xmpp(server, { mode: "starttls" }))
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toEqual(["starttls:required"])
      expect(result.capabilities.some((c) => c.startsWith("starttls"))).toBe(false)
      // Prosody lists SCRAM-SHA-1 and PLAIN in no fixed order.
      const mechanisms = result.capabilities.find((c) => c.startsWith("mechanisms:"))
      expect(mechanisms?.slice("mechanisms:".length).split(",").sort()).toEqual(["PLAIN", "SCRAM-SHA-1"])
    })
  )

  test(
    needs,
    "xmpp: the stream goes on over TLS (SASL PLAIN for an unknown user → <failure><not-authorized/>)",
    (server) =>
      Effect.gen(function* () {
        const result = yield* connect(url(server.ports.c2s), "xmpp", xmpp(server, { mode: "starttls" }))
        const { session } = yield* converse(result, "xmpp")
        const credentials = Buffer.from("\0nobody\0wrong").toString("base64")
        yield* session.write(
          `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${credentials}</auth>`,
          "auth"
        )
        let text = ""
        while (!text.includes("</failure>") && !text.includes("<success")) {
          yield* session.readMore("auth")
          text = new TextDecoder().decode(session.buffered())
        }
        expect(text).toContain("not-authorized")
      })
  )

  test(needs, "xmpp c2s direct TLS (XEP-0368): implicit", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.c2sTls), "xmpp", xmpp(server, { mode: "implicit" }))
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(result.capabilities.some((c) => c.startsWith("mechanisms:"))).toBe(true)
    })
  )

  test(
    needs,
    "xmpp-server s2s <starttls/> (jabber:server, from=peer.test): verified; dialback before and after",
    (server) =>
      Effect.gen(function* () {
        const options = xmpp(server, { mode: "starttls", fromDomain: "peer.test" })
        const result = yield* connect(url(server.ports.s2s), "xmpp-server", options)
        expectVerified(result)
        expect([...result.capabilitiesBeforeTls].sort()).toEqual(["dialback", "starttls:required"])
        expect(result.capabilities).toEqual(["dialback"])
      })
  )

  test(needs, "xmpp-server s2s direct TLS: implicit", (server) =>
    Effect.gen(function* () {
      const options = xmpp(server, { mode: "implicit", fromDomain: "peer.test" })
      const result = yield* connect(url(server.ports.s2sTls), "xmpp-server", options)
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(result.capabilities).toEqual(["dialback"])
    })
  )

  test(needs, "xmpp, no test CA: TlsFailed (UnknownCa), for <starttls/> and direct TLS", (server) =>
    Effect.gen(function* () {
      const options = { domain: "localhost" }
      yield* expectTlsFailure(
        connect(url(server.ports.c2s), "xmpp", untrusted({ ...options, mode: "starttls" })),
        NO_CA
      )
      yield* expectTlsFailure(
        connect(url(server.ports.c2sTls), "xmpp", untrusted({ ...options, mode: "implicit" })),
        NO_CA
      )
    })
  )

  test(needs, "xmpp to='unknown.example': ServiceUnavailable (stream error host-unknown) before any TLS", (server) =>
    Effect.gen(function* () {
      const failure = yield* expectFailure(
        connect(url(server.ports.c2s), "xmpp", xmpp(server, { mode: "starttls", domain: "unknown.example" })),
        "ServiceUnavailable",
        "capabilities"
      )
      expect(failure.message).toContain("host-unknown")
    })
  )
})

// -- INN ----------------------------------------------------------------------------------------------------------------

suite(inn, "interop: inn2 nnrpd (nntp)", (test) => {
  const needs = inn.requirement
  const authinfo = (capabilities: ReadonlyArray<string>) =>
    capabilities
      .find((c) => /^AUTHINFO\b/i.test(c))
      ?.split(" ")
      .slice(1) ?? []
  const sasl = (capabilities: ReadonlyArray<string>) =>
    capabilities
      .find((c) => /^SASL\b/i.test(c))
      ?.split(" ")
      .slice(1) ?? []

  test(needs, "nntp STARTTLS: verified; STARTTLS gone, AUTHINFO USER and SASL PLAIN/LOGIN appear over TLS", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.nntp), "nntp", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(has(result.capabilitiesBeforeTls, "STARTTLS")).toBe(true)
      expect(has(result.capabilities, "STARTTLS")).toBe(false)
      // nnrpd offers passwords only over TLS.
      expect(authinfo(result.capabilitiesBeforeTls)).not.toContain("USER")
      expect(authinfo(result.capabilities)).toContain("USER")
      expect(sasl(result.capabilitiesBeforeTls)).not.toContain("PLAIN")
      expect(sasl(result.capabilities)).toEqual(expect.arrayContaining(["PLAIN", "LOGIN"]))
    })
  )

  test(needs, "nntp: the session goes on over TLS (DATE → 111, QUIT → 205)", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.nntp), "nntp", trusted(server, { mode: "starttls" }))
      const { ask } = yield* converse(result, "nntp")
      expect((yield* ask("DATE\r\n", /^\d{3} /))[0]).toMatch(/^111 \d{14}$/)
      expect((yield* ask("QUIT\r\n", /^\d{3} /))[0]).toMatch(/^205 /)
    })
  )

  test(needs, "nntps (nnrpd -S): implicit TLS, AUTHINFO USER offered", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.nntps), "nntp", trusted(server, { mode: "implicit" }))
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(has(result.capabilities, "STARTTLS")).toBe(false)
      expect(authinfo(result.capabilities)).toContain("USER")
    })
  )

  test(needs, "nntp, no test CA: TlsFailed (UnknownCa), for STARTTLS and implicit TLS", (server) =>
    Effect.gen(function* () {
      yield* expectTlsFailure(connect(url(server.ports.nntp), "nntp", untrusted({ mode: "starttls" })), NO_CA)
      yield* expectTlsFailure(connect(url(server.ports.nntps), "nntp", untrusted({ mode: "implicit" })), NO_CA)
    })
  )
})

// -- InspIRCd -----------------------------------------------------------------------------------------------------------

suite(inspircd, "interop: inspircd (irc)", (test) => {
  const needs = inspircd.requirement

  test(needs, "irc STARTTLS → 670: verified; CAP LS again over TLS (InspIRCd still lists tls)", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.irc), "irc", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toContain("tls")
      expect(result.capabilities).toEqual(result.capabilitiesBeforeTls)
    })
  )

  test(needs, "irc: registration over TLS (CAP END, NICK, USER → 001)", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.irc), "irc", trusted(server, { mode: "starttls" }))
      const { ask } = yield* converse(result, "irc")
      const lines = yield* ask("CAP END\r\nNICK netdial\r\nUSER netdial 0 * :netdial interop\r\n", /^\S+ (001|4\d\d) /)
      expect(lines.at(-1)).toMatch(/^\S+ 001 netdial /)
    })
  )

  test(needs, "irc with hostname lookups on: the NOTICE before the CAP reply is skipped, STARTTLS works", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.ircLookup), "irc", trusted(server, { mode: "starttls" }))
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toContain("tls")
    })
  )

  test(needs, "ircs: implicit TLS", (server) =>
    Effect.gen(function* () {
      const result = yield* connect(url(server.ports.ircs), "irc", trusted(server, { mode: "implicit" }))
      expectVerified(result)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(result.capabilities.length).toBeGreaterThan(0)
    })
  )

  test(needs, "irc, no test CA: TlsFailed (UnknownCa), for STARTTLS and the TLS port", (server) =>
    Effect.gen(function* () {
      yield* expectTlsFailure(connect(url(server.ports.irc), "irc", untrusted({ mode: "starttls" })), NO_CA)
      yield* expectTlsFailure(connect(url(server.ports.ircs), "irc", untrusted({ mode: "implicit" })), NO_CA)
    })
  )

  test(needs, "irc, peerName irc.example: TlsFailed (HostnameMismatch)", (server) =>
    Effect.gen(function* () {
      const options = trusted(server, { mode: "starttls", tls: { peerName: "irc.example" } })
      yield* expectTlsFailure(connect(url(server.ports.irc), "irc", options), "HostnameMismatch")
    })
  )
})

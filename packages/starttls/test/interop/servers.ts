/**
 * Real servers for the STARTTLS interop suite (Debian 12 packages; see shared reference starttls.md §3). Each
 * `start` writes a config into a fresh temp dir (the test PKI's `server-chain.pem`/`server.key`, owned as the daemon
 * needs), picks free loopback ports, starts the daemon in the foreground in its own process group, waits (at most
 * 20 s) until every port accepts, and on scope close kills the group and removes the dir. Everything listens on
 * 127.0.0.1 only.
 *
 * Found here beyond the reference's §3 (Debian 12, run from Node as root):
 * - Postfix: spawn `master -s` itself (`postfix start-fg` leaves our process group). With `maillog_file =
 *   /dev/stdout` and stdout a pipe to the test runner, smtpd accepted connections but never sent its greeting; a log
 *   file in the temp dir works, and needs the dir in `maillog_file_prefixes` (else `postfix check` exits 1 silently,
 *   logging to a syslog that is not there).
 * - PostgreSQL, MariaDB, Prosody, nnrpd and InspIRCd run as their own accounts from the spawn (Node's uid/gid, no
 *   runuser), so the key and their dirs are chowned to them.
 * - INN: a private inn.conf (every data path in the temp dir, `readerswhenstopped`, TLS files) and `makehistory -O -x
 *   -F` there, so nothing under /var/lib/news is touched.
 * - InspIRCd: `resolvehostnames="no"`, or a DNS lookup notice arrives mid-dialogue after a 1 s timeout.
 * - slapd: `-d 256`, not `-d 0`, or config errors go to a syslog that is not there.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import {
  makeTestPki,
  type Process,
  ProcessError,
  runCommand,
  type SpawnOptions,
  spawnProcess,
  type TestPki,
  waitForPorts
} from "@netdial/testkit"
import { Cause, type Duration, Effect, Exit, Scope } from "effect"
import { account, freePorts, makeDir, pkiFiles, type Requirement, requires, tempDir, writeFile } from "./tools.ts"

export interface Running<Port extends string> {
  readonly name: string
  readonly ports: Readonly<Record<Port, number>>
  readonly pki: TestPki
  /** From spawning the daemon(s) to every port accepting, in ms (preparation such as initdb not included). */
  readonly readyMs: number
  /** Preparation (config, initdb, install-db…) before the spawn, in ms. */
  readonly prepareMs: number
  readonly output: () => string
}

export interface Server<Port extends string> {
  readonly name: string
  readonly requirement: Requirement
  readonly start: Effect.Effect<Running<Port>, ProcessError, Scope.Scope>
}

const READY_TIMEOUT = "20 seconds"

/**
 * Daemons run in the foreground with stdin on /dev/null; the last 64 KiB of their output is kept for error messages,
 * and they get 3 s between SIGTERM and SIGKILL when their scope closes.
 */
const DAEMON: SpawnOptions = { stdin: "ignore", outputLimit: 64 * 1024, killAfter: "3 seconds" }

const spawnDaemon = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions = {}
): Effect.Effect<Process, never, Scope.Scope> => spawnProcess(command, args, { ...DAEMON, ...options })

/** A helper command (postconf, initdb, …) run to completion, at most `timeout`; fails with its output otherwise. */
const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions & { readonly timeout: Duration.Input }
): Effect.Effect<string, ProcessError> => runCommand(command, args, { ...DAEMON, ...options })

/**
 * Starts a server: `prepare` writes configs (given the dir, the PKI files and the ports) and returns the daemons to
 * spawn; then every port must accept. A start that fails (a port taken between the pick and the bind, a slow disk)
 * is cleaned up and tried again with new ports and a new dir, three times at most.
 */
const startServer = <Port extends string>(
  name: string,
  portNames: ReadonlyArray<Port>,
  prepare: (context: {
    readonly dir: string
    readonly pki: TestPki
    readonly ports: Readonly<Record<Port, number>>
  }) => Effect.Effect<ReadonlyArray<Effect.Effect<Process, never, Scope.Scope>>, ProcessError, Scope.Scope>,
  /** Log files (relative to the dir) that are part of the output, for daemons that cannot log to their stdout. */
  logFiles: ReadonlyArray<string> = []
): Effect.Effect<Running<Port>, ProcessError, Scope.Scope> =>
  Effect.gen(function* () {
    const pki = yield* Effect.promise(() => makeTestPki())
    const outer = yield* Effect.scope
    let lastError = new ProcessError({ message: `${name}: not started` })
    for (let attempt = 1; attempt <= 3; attempt++) {
      const scope = yield* Scope.fork(outer)
      const exit = yield* Effect.exit(
        Effect.gen(function* () {
          const began = performance.now()
          const dir = yield* tempDir(name)
          const ports = yield* freePorts(portNames)
          const daemonsToStart = yield* prepare({ dir, pki, ports })
          const spawned = performance.now()
          const logs = () =>
            logFiles
              .map((file) => {
                try {
                  return `--- ${file} ---\n${Fs.readFileSync(Path.join(dir, file), "utf8").slice(-8000)}`
                } catch {
                  return ""
                }
              })
              .join("\n")
          const daemons: Array<Process> = []
          for (const start of daemonsToStart) daemons.push(yield* start)
          yield* waitForPorts(Object.values<number>(ports), daemons, READY_TIMEOUT).pipe(
            Effect.mapError((error) => new ProcessError({ message: `${error.message}\n${logs()}` }))
          )
          const ready = performance.now()
          const running: Running<Port> = {
            name,
            ports,
            pki,
            readyMs: Math.round(ready - spawned),
            prepareMs: Math.round(spawned - began),
            output: () => [...daemons.map((daemon) => daemon.output()), logs()].join("\n")
          }
          return running
        }).pipe(Scope.provide(scope))
      )
      if (Exit.isSuccess(exit)) {
        const running = exit.value
        console.log(
          `[interop] ${name} ready in ${running.readyMs} ms (prepare ${running.prepareMs} ms, attempt ${attempt}) on ${Object.entries(
            running.ports
          )
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")}`
        )
        return running
      }
      yield* Scope.close(scope, exit)
      const failure = Cause.squash(exit.cause)
      const message = failure instanceof ProcessError ? failure.message : Cause.pretty(exit.cause)
      lastError = new ProcessError({ message: `${name}: start attempt ${attempt} failed: ${message}` })
    }
    return yield* Effect.fail(lastError)
  })

// -- Dovecot: IMAP, POP3, LMTP, ManageSieve ---------------------------------------------------------------------------

const DOVECOT = "/usr/sbin/dovecot"

export const dovecotRequirement = {
  imap: requires(
    "dovecot-imapd",
    [DOVECOT, "/usr/lib/dovecot/imap", "/usr/lib/dovecot/imap-login"],
    ["dovecot", "dovenull"]
  ),
  pop3: requires(
    "dovecot-pop3d",
    [DOVECOT, "/usr/lib/dovecot/pop3", "/usr/lib/dovecot/pop3-login"],
    ["dovecot", "dovenull"]
  ),
  lmtp: requires("dovecot-lmtpd", [DOVECOT, "/usr/lib/dovecot/lmtp"], ["dovecot", "dovenull"]),
  sieve: requires(
    "dovecot-managesieved",
    [DOVECOT, "/usr/lib/dovecot/managesieve", "/usr/lib/dovecot/managesieve-login"],
    ["dovecot", "dovenull"]
  )
}

type DovecotPort = "imap" | "imaps" | "pop3" | "pop3s" | "lmtp" | "sieve"

/** One dovecot with every protocol that is installed: imap + imaps, pop3 + pop3s, lmtp, sieve. */
export const dovecot: Server<DovecotPort> = {
  name: "dovecot",
  requirement: Object.values(dovecotRequirement).find((r) => r.available) ?? dovecotRequirement.imap,
  start: Effect.suspend(() => {
    const has = (key: keyof typeof dovecotRequirement) => dovecotRequirement[key].available
    const portNames: Array<DovecotPort> = [
      ...(has("imap") ? (["imap", "imaps"] as const) : []),
      ...(has("pop3") ? (["pop3", "pop3s"] as const) : []),
      ...(has("lmtp") ? (["lmtp"] as const) : []),
      ...(has("sieve") ? (["sieve"] as const) : [])
    ]
    return startServer("dovecot", portNames, ({ dir, pki, ports }) =>
      Effect.gen(function* () {
        const files = yield* pkiFiles(pki, dir)
        const listener = (name: string, port: number | undefined, ssl = false) =>
          port === undefined
            ? ""
            : `  inet_listener ${name} {\n    address = 127.0.0.1\n    port = ${port}\n${ssl ? "    ssl = yes\n" : ""}  }\n`
        const protocols = [has("imap") && "imap", has("pop3") && "pop3", has("lmtp") && "lmtp", has("sieve") && "sieve"]
          .filter(Boolean)
          .join(" ")
        const conf = `# netdial interop: dovecot on 127.0.0.1 only
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = netdial-${Path.basename(dir)}
listen = 127.0.0.1
protocols = ${protocols}
ssl = yes
ssl_cert = <${files.server.chain}
ssl_key = <${files.server.key}
log_path = /dev/stderr
info_log_path = /dev/stderr
mail_location = mbox:${dir}/mail:INBOX=${dir}/mail/inbox
passdb {
  driver = static
  args = password=netdial
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=${dir}/home
}
service imap-login {
${listener("imap", ports.imap)}${listener("imaps", ports.imaps, true)}}
service pop3-login {
${listener("pop3", ports.pop3)}${listener("pop3s", ports.pop3s, true)}}
service lmtp {
${listener("lmtp", ports.lmtp)}}
${has("sieve") ? `service managesieve-login {\n${listener("sieve", ports.sieve)}}\n` : ""}`
        const confPath = Path.join(dir, "dovecot.conf")
        yield* writeFile(confPath, conf)
        return [spawnDaemon(DOVECOT, ["-F", "-c", confPath])]
      })
    )
  })
}

// -- Postfix: SMTP (STARTTLS offered), submission (TLS required), smtps (implicit) ----------------------------------

const POSTFIX = "/usr/sbin/postfix"
const POSTFIX_MASTER = "/usr/lib/postfix/sbin/master"
const POSTCONF = "/usr/sbin/postconf"
const POSTFIX_MASTER_CF = "/usr/share/postfix/master.cf.dist"

export const postfix: Server<"smtp" | "submission" | "smtps" | "notls"> = {
  name: "postfix",
  requirement: requires("postfix", [POSTFIX, POSTFIX_MASTER, POSTCONF, POSTFIX_MASTER_CF], ["postfix"]),
  start: startServer(
    "postfix",
    ["smtp", "submission", "smtps", "notls"],
    ({ dir, pki, ports }) =>
      Effect.gen(function* () {
        const files = yield* pkiFiles(pki, dir)
        const conf = yield* makeDir(Path.join(dir, "conf"))
        yield* makeDir(Path.join(dir, "queue"))
        yield* makeDir(Path.join(dir, "data"), 0o700, account("postfix"))
        yield* writeFile(
          Path.join(conf, "main.cf"),
          `# netdial interop: postfix on 127.0.0.1 only, no delivery
compatibility_level = 3.6
myhostname = mail.test.local
mydomain = test.local
myorigin = $myhostname
mydestination =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
queue_directory = ${dir}/queue
data_directory = ${dir}/data
maillog_file_prefixes = /var, /dev/stdout, ${dir}
maillog_file = ${dir}/maillog
alias_maps =
alias_database =
local_transport = error:local delivery disabled
smtpd_tls_cert_file = ${files.server.chain}
smtpd_tls_key_file = ${files.server.key}
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
`
        )
        yield* Effect.promise(() => Fs.promises.copyFile(POSTFIX_MASTER_CF, Path.join(conf, "master.cf")))
        const postconf = (...args: ReadonlyArray<string>) =>
          run(POSTCONF, ["-c", conf, ...args], { timeout: "20 seconds" })
        // No chroot (the queue is a temp dir); our three listeners instead of the default smtp on port 25.
        yield* postconf("-F", "*/*/chroot = n")
        yield* postconf("-MX", "smtp/inet")
        yield* postconf("-M", `127.0.0.1:${ports.smtp}/inet = 127.0.0.1:${ports.smtp} inet n - n - - smtpd`)
        yield* postconf(
          "-M",
          `127.0.0.1:${ports.submission}/inet = 127.0.0.1:${ports.submission} inet n - n - - smtpd -o smtpd_tls_security_level=encrypt`
        )
        yield* postconf(
          "-M",
          `127.0.0.1:${ports.smtps}/inet = 127.0.0.1:${ports.smtps} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes`
        )
        yield* postconf(
          "-M",
          `127.0.0.1:${ports.notls}/inet = 127.0.0.1:${ports.notls} inet n - n - - smtpd -o smtpd_tls_security_level=none`
        )
        // `postfix check` creates the queue directories with their owners and modes.
        yield* run(POSTFIX, ["-c", conf, "check"], { timeout: "30 seconds" })
        // master itself, not `postfix start-fg` (which runs it from a shell script). `-s` keeps stdout for
        // maillog_file. master calls setsid(); spawned as a process-group leader it already leads its session, so that
        // fails harmlessly and master and its workers stay in the group we kill. (`-d` would also keep the group, but
        // then smtpd answered only the first connection.)
        return [spawnDaemon(POSTFIX_MASTER, ["-s", "-c", conf])]
      }),
    ["maillog"]
  )
}

// -- vsftpd: AUTH TLS and implicit TLS (two daemons) ------------------------------------------------------------------

const VSFTPD = "/usr/sbin/vsftpd"

export const vsftpd: Server<"ftp" | "ftps" | "notls"> = {
  name: "vsftpd",
  requirement: requires("vsftpd", [VSFTPD], ["nobody"]),
  start: startServer("vsftpd", ["ftp", "ftps", "notls"], ({ dir, pki, ports }) =>
    Effect.gen(function* () {
      const files = yield* pkiFiles(pki, dir)
      const empty = yield* makeDir(Path.join(dir, "empty"))
      const config = (port: number, tls: "starttls" | "implicit" | "none") => `listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=${port}
background=NO
anonymous_enable=NO
local_enable=YES
pasv_enable=NO
ssl_enable=${tls === "none" ? "NO" : "YES"}
implicit_ssl=${tls === "implicit" ? "YES" : "NO"}
rsa_cert_file=${files.server.chain}
rsa_private_key_file=${files.server.key}
seccomp_sandbox=NO
secure_chroot_dir=${empty}
xferlog_enable=NO
syslog_enable=NO
`
      const daemons = []
      for (const [port, tls] of [
        [ports.ftp, "starttls"],
        [ports.ftps, "implicit"],
        [ports.notls, "none"]
      ] as const) {
        const file = Path.join(dir, `vsftpd-${tls}.conf`)
        yield* writeFile(file, config(port, tls), 0o600)
        daemons.push(spawnDaemon(VSFTPD, [file]))
      }
      return daemons
    })
  )
}

// -- OpenLDAP slapd: StartTLS (ldap://) and ldaps:// ------------------------------------------------------------------

const SLAPD = "/usr/sbin/slapd"

export const slapd: Server<"ldap" | "ldaps"> = {
  name: "slapd",
  requirement: requires("slapd", [SLAPD, "/etc/ldap/schema/core.schema", "/usr/lib/ldap/back_mdb.la"]),
  start: startServer("slapd", ["ldap", "ldaps"], ({ dir, pki, ports }) =>
    Effect.gen(function* () {
      const files = yield* pkiFiles(pki, dir)
      const db = yield* makeDir(Path.join(dir, "db"), 0o700)
      const conf = Path.join(dir, "slapd.conf")
      yield* writeFile(
        conf,
        `include /etc/ldap/schema/core.schema
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCertificateFile ${files.server.chain}
TLSCertificateKeyFile ${files.server.key}
database mdb
maxsize 10485760
suffix "dc=test,dc=local"
rootdn "cn=admin,dc=test,dc=local"
directory ${db}
`
      )
      // -d keeps slapd in the foreground; 256 ("stats") puts config errors and connections on stderr.
      return [
        spawnDaemon(SLAPD, [
          "-f",
          conf,
          "-h",
          `ldap://127.0.0.1:${ports.ldap}/ ldaps://127.0.0.1:${ports.ldaps}/`,
          "-d",
          "256"
        ])
      ]
    })
  )
}

// -- PostgreSQL 15: SSLRequest ----------------------------------------------------------------------------------------

const PG_BIN = "/usr/lib/postgresql/15/bin"

export const postgresql: Server<"postgres"> = {
  name: "postgresql",
  requirement: requires("postgresql-15", [`${PG_BIN}/postgres`, `${PG_BIN}/initdb`], ["postgres"]),
  start: startServer("postgresql", ["postgres"], ({ dir, pki, ports }) =>
    Effect.gen(function* () {
      const postgres = account("postgres")
      // The key must be 0600 and owned by the server's account, or postgres refuses to start.
      const files = yield* pkiFiles(pki, dir, postgres)
      const data = yield* makeDir(Path.join(dir, "data"), 0o700, postgres)
      const sockets = yield* makeDir(Path.join(dir, "sockets"), 0o755, postgres)
      const env = { PATH: process.env.PATH, LANG: "C", LC_ALL: "C" }
      yield* run(
        `${PG_BIN}/initdb`,
        ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions"],
        {
          runAs: postgres,
          cwd: dir,
          env,
          timeout: "60 seconds"
        }
      )
      return [
        spawnDaemon(
          `${PG_BIN}/postgres`,
          [
            "-D",
            data,
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            `port=${ports.postgres}`,
            "-c",
            `unix_socket_directories=${sockets}`,
            "-c",
            "ssl=on",
            "-c",
            `ssl_cert_file=${files.server.chain}`,
            "-c",
            `ssl_key_file=${files.server.key}`,
            "-c",
            "fsync=off",
            "-c",
            "logging_collector=off"
          ],
          { runAs: postgres, cwd: dir, env }
        )
      ]
    })
  )
}

// -- MariaDB: SSLRequest ------------------------------------------------------------------------------------------------

const MARIADBD = "/usr/sbin/mariadbd"
const MARIADB_INSTALL_DB = "/usr/bin/mariadb-install-db"

export const mariadb: Server<"mysql"> = {
  name: "mariadb",
  requirement: requires("mariadb-server", [MARIADBD, MARIADB_INSTALL_DB], ["mysql"]),
  start: startServer("mariadb", ["mysql"], ({ dir, pki, ports }) =>
    Effect.gen(function* () {
      const mysql = account("mysql")
      const files = yield* pkiFiles(pki, dir, mysql)
      const data = yield* makeDir(Path.join(dir, "data"), 0o700, mysql)
      const runDir = yield* makeDir(Path.join(dir, "run"), 0o755, mysql)
      // Small InnoDB files: install-db and the first start stay around a second.
      const common = [
        "--no-defaults",
        `--datadir=${data}`,
        "--innodb-log-file-size=4M",
        "--innodb-buffer-pool-size=16M"
      ]
      yield* run(MARIADB_INSTALL_DB, [...common, "--skip-test-db", "--auth-root-authentication-method=normal"], {
        runAs: mysql,
        cwd: dir,
        timeout: "60 seconds"
      })
      return [
        spawnDaemon(
          MARIADBD,
          [
            ...common,
            `--socket=${runDir}/mysqld.sock`,
            `--pid-file=${runDir}/mysqld.pid`,
            "--bind-address=127.0.0.1",
            `--port=${ports.mysql}`,
            "--skip-log-bin",
            `--ssl-cert=${files.server.chain}`,
            `--ssl-key=${files.server.key}`
          ],
          { runAs: mysql, cwd: dir }
        )
      ]
    })
  )
}

// -- Prosody: XMPP c2s and s2s, STARTTLS and direct TLS (XEP-0368) ---------------------------------------------------

const PROSODY = "/usr/bin/prosody"

export const prosody: Server<"c2s" | "c2sTls" | "s2s" | "s2sTls"> = {
  name: "prosody",
  requirement: requires("prosody", [PROSODY], ["prosody"]),
  start: startServer("prosody", ["c2s", "c2sTls", "s2s", "s2sTls"], ({ dir, pki, ports }) =>
    Effect.gen(function* () {
      const user = account("prosody")
      const files = yield* pkiFiles(pki, dir, user)
      const data = yield* makeDir(Path.join(dir, "data"), 0o750, user)
      const certs = yield* makeDir(Path.join(dir, "certs"), 0o755, user)
      const conf = Path.join(dir, "prosody.cfg.lua")
      yield* writeFile(
        conf,
        `-- netdial interop: prosody on 127.0.0.1 only
daemonize = false
pidfile = "${data}/prosody.pid"
data_path = "${data}"
plugin_paths = { }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { ${ports.c2s} }
c2s_direct_tls_ports = { ${ports.c2sTls} }
s2s_ports = { ${ports.s2s} }
s2s_direct_tls_ports = { ${ports.s2sTls} }
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = false
authentication = "internal_hashed"
modules_enabled = { "disco"; "saslauth"; "tls"; "dialback"; "ping" }
modules_disabled = { "posix" }
log = { { levels = { min = "info" }, to = "console" } }
ssl = { certificate = "${files.server.chain}"; key = "${files.server.key}" }
certificates = "${certs}"
VirtualHost "localhost"
`
      )
      // Prosody refuses to run as root: it runs as its own account from the start.
      return [
        spawnDaemon(PROSODY, ["-F", "--config", conf], { runAs: user, cwd: dir, env: { PATH: process.env.PATH } })
      ]
    })
  )
}

// -- INN nnrpd: NNTP STARTTLS and implicit TLS (-S) -------------------------------------------------------------------

const NNRPD = "/usr/lib/news/bin/nnrpd"
const MAKEHISTORY = "/usr/lib/news/bin/makehistory"

export const inn: Server<"nntp" | "nntps"> = {
  name: "inn2",
  requirement: requires("inn2", [NNRPD, MAKEHISTORY, "/etc/news/inn.conf", "/var/lib/news/active"], ["news"]),
  start: startServer("inn2", ["nntp", "nntps"], ({ dir, pki, ports }) =>
    Effect.gen(function* () {
      const news = account("news")
      const files = yield* pkiFiles(pki, dir, news)
      // A private copy of every path nnrpd writes or reads data from; /etc/news (readers.conf: localhost may read
      // and post) is shared read-only.
      const db = yield* makeDir(Path.join(dir, "db"), 0o755, news)
      const spool = yield* makeDir(Path.join(dir, "spool"), 0o755, news)
      for (const sub of ["articles", "overview", "incoming", "archive", "outgoing"]) {
        yield* makeDir(Path.join(spool, sub), 0o755, news)
      }
      for (const sub of ["log", "run", "tmp"]) yield* makeDir(Path.join(dir, sub), 0o755, news)
      yield* Effect.promise(async () => {
        for (const file of ["active", "newsgroups"]) {
          await Fs.promises.copyFile(Path.join("/var/lib/news", file), Path.join(db, file))
        }
        await Fs.promises.writeFile(Path.join(db, "active.times"), "")
        for (const file of ["active", "newsgroups", "active.times"])
          await Fs.promises.chown(Path.join(db, file), news.uid, news.gid)
      })
      const system = yield* Effect.promise(() => Fs.promises.readFile("/etc/news/inn.conf", "utf8"))
      const overrides: Record<string, string> = {
        domain: "test.local",
        pathhost: "news.test.local",
        readerswhenstopped: "true",
        pathdb: db,
        pathspool: spool,
        patharticles: Path.join(spool, "articles"),
        pathoverview: Path.join(spool, "overview"),
        pathincoming: Path.join(spool, "incoming"),
        patharchive: Path.join(spool, "archive"),
        pathoutgoing: Path.join(spool, "outgoing"),
        pathlog: Path.join(dir, "log"),
        pathrun: Path.join(dir, "run"),
        pathtmp: Path.join(dir, "tmp"),
        tlscertfile: files.server.chain,
        tlskeyfile: files.server.key
      }
      const kept = system.split("\n").filter((line) => {
        const key = /^([a-z0-9]+):/i.exec(line)?.[1]
        return key === undefined || !(key in overrides)
      })
      const innConf = Path.join(dir, "inn.conf")
      yield* writeFile(
        innConf,
        `${kept.join("\n")}\n# netdial interop\n${Object.entries(overrides)
          .map(([key, value]) => `${key}: ${value}`)
          .join("\n")}\n`
      )
      const env = { PATH: process.env.PATH, INNCONF: innConf }
      // Without an overview nnrpd answers "400 NNTP server unavailable".
      yield* run(MAKEHISTORY, ["-O", "-x", "-F"], { runAs: news, cwd: dir, env, timeout: "30 seconds" })
      const nnrpd = (port: number, implicit: boolean) =>
        spawnDaemon(NNRPD, ["-D", "-f", "-b", "127.0.0.1", "-p", String(port), ...(implicit ? ["-S"] : [])], {
          runAs: news,
          cwd: dir,
          env
        })
      return [nnrpd(ports.nntp, false), nnrpd(ports.nntps, true)]
    })
  )
}

// -- InspIRCd: IRC STARTTLS (numeric 670) and a TLS port --------------------------------------------------------------

const INSPIRCD = "/usr/sbin/inspircd"

export const inspircd: Server<"irc" | "ircs" | "ircLookup"> = {
  name: "inspircd",
  requirement: requires(
    "inspircd",
    [INSPIRCD, "/usr/lib/inspircd/modules/m_ssl_gnutls.so", "/usr/lib/inspircd/modules/m_starttls.so"],
    ["irc"]
  ),
  start: startServer(
    "inspircd",
    ["irc", "ircs", "ircLookup"],
    ({ dir, pki, ports }) =>
      Effect.gen(function* () {
        const irc = account("irc")
        const files = yield* pkiFiles(pki, dir, irc)
        const data = yield* makeDir(Path.join(dir, "data"), 0o755, irc)
        const logs = yield* makeDir(Path.join(dir, "logs"), 0o755, irc)
        const conf = Path.join(dir, "inspircd.conf")
        yield* writeFile(
          conf,
          `<server name="irc.test.local" description="netdial interop" network="NetdialTest">
<admin name="netdial" nick="netdial" email="netdial@test.local">
<bind address="127.0.0.1" port="${ports.irc}" type="clients">
<bind address="127.0.0.1" port="${ports.ircs}" type="clients" sslprofile="netdial">
<bind address="127.0.0.1" port="${ports.ircLookup}" type="clients">
<connect name="lookup" allow="127.0.0.1" port="${ports.ircLookup}" resolvehostnames="yes" useident="no" timeout="60" localmax="100" globalmax="100" maxconnwarn="off" limit="5000">
<connect name="main" allow="127.0.0.1" resolvehostnames="no" useident="no" timeout="60" localmax="100" globalmax="100" maxconnwarn="off" limit="5000">
<module name="ssl_gnutls">
<module name="cap">
<module name="starttls">
<sslprofile name="netdial" provider="gnutls" certfile="${files.server.chain}" keyfile="${files.server.key}" hash="sha256" requestclientcert="no">
<path configdir="${dir}" datadir="${data}" logdir="${logs}" moduledir="/usr/lib/inspircd/modules">
<pid file="${data}/inspircd.pid">
<dns server="127.0.0.1" timeout="1">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="${logs}/ircd.log">
<security hidehosts="no">
`
        )
        return [
          spawnDaemon(INSPIRCD, ["--config", conf, "--nofork"], {
            runAs: irc,
            cwd: dir,
            env: { PATH: process.env.PATH }
          })
        ]
      }),
    ["logs/ircd.log"]
  )
}

/**
 * Runs the PHP side of the interop suite: `client.php` (one connection, one exchange, one JSON line out) and
 * `server.php` (prints where it listens, then one JSON line per connection or datagram). See those scripts.
 */
import { type Process, ProcessError, spawnProcess } from "@netdial/testkit"
import { Effect, type Scope } from "effect"
import { php, phpScript } from "./tools.ts"

/** What `client.php` prints. */
export interface PhpClientResult {
  readonly ok: boolean
  readonly errno?: number
  readonly errstr?: string
  readonly local?: string | false
  readonly peer?: string | false
  readonly streamType?: string
  readonly crypto?: PhpCrypto | null
  readonly written?: number | false
  readonly shutdown?: boolean
  readonly reply?: string | null
  readonly timedOut?: boolean
  readonly rest?: string | null
  readonly eof?: boolean
  readonly warnings: ReadonlyArray<string>
}

/** `stream_get_meta_data($fp)["crypto"]`. */
export interface PhpCrypto {
  readonly protocol: string
  readonly cipher_name: string
  readonly cipher_bits: number
  readonly cipher_version: string
  readonly alpn_protocol?: string
}

export interface PhpClientSpec {
  readonly how: "client" | "fsockopen"
  readonly address?: string
  readonly host?: string
  readonly port?: number
  readonly ssl?: Record<string, unknown>
  readonly send: string
  readonly datagram?: boolean
  readonly shutdown?: boolean
  readonly timeout?: number
}

const parseJsonLine = <A>(line: string, process: Process): Effect.Effect<A, ProcessError> =>
  Effect.try({
    try: () => JSON.parse(line) as A,
    catch: () =>
      new ProcessError({
        message: `php printed something that is not JSON: ${JSON.stringify(line)}\nstderr: ${process.stderr()}`
      })
  })

/**
 * Starts `client.php` with `spec`; the returned effect waits (at most `within`) for it to exit and parses its line.
 * Start it, do the netdial side, then yield the result.
 */
export const startPhpClient = (
  spec: PhpClientSpec
): Effect.Effect<Effect.Effect<PhpClientResult, ProcessError>, never, Scope.Scope> =>
  Effect.map(spawnProcess("php", [...php.args, phpScript("client.php"), JSON.stringify(spec)]), (process) =>
    Effect.gen(function* () {
      yield* process.exited("20 seconds")
      const line = process.stdout().split("\n")[0] ?? ""
      return yield* parseJsonLine<PhpClientResult>(line, process)
    })
  )

export interface PhpServerSpec {
  readonly address: string
  readonly ssl?: Record<string, unknown>
  readonly count?: number
  readonly timeout?: number
}

/** One line of `server.php` after the first: a connection (stream) or a datagram it handled. */
export interface PhpServerEvent {
  readonly accepted?: boolean
  readonly peer?: string
  readonly local?: string | false
  readonly streamType?: string
  readonly crypto?: PhpCrypto | null
  readonly received?: string | null
  readonly timedOut?: boolean
  readonly written?: number
  readonly sent?: number
  readonly error?: string
  readonly warnings: ReadonlyArray<string>
}

export interface PhpServer {
  readonly process: Process
  /** `stream_socket_get_name($server, false)`: `127.0.0.1:PORT`, `[::1]:PORT` or the unix path. */
  readonly name: string
  /** The port, for inet servers. */
  readonly port: number
  /** The `n`th event line (0-based), waiting at most 15 s. */
  readonly event: (n: number) => Effect.Effect<PhpServerEvent, ProcessError>
}

/** Starts `server.php` and waits (at most 10 s) until it listens. */
export const startPhpServer = (spec: PhpServerSpec): Effect.Effect<PhpServer, ProcessError, Scope.Scope> =>
  Effect.gen(function* () {
    const process = yield* spawnProcess("php", [...php.args, phpScript("server.php"), JSON.stringify(spec)])
    const first = yield* parseJsonLine<{ listening: string | false; errstr?: string }>(
      yield* process.line(0, "10 seconds"),
      process
    )
    if (first.listening === false) {
      return yield* new ProcessError({ message: `php could not listen: ${JSON.stringify(first)}` })
    }
    const name = first.listening
    const portText = /:(\d+)$/.exec(name)?.[1]
    return {
      process,
      name,
      port: portText === undefined ? 0 : Number(portText),
      event: (n: number) =>
        Effect.flatMap(process.line(n + 1, "15 seconds"), (line) => parseJsonLine<PhpServerEvent>(line, process))
    }
  })

/**
 * `pnpm bench`: parse() against new URL() and effect/net's Host.hostPortFromString, side by side on one corpus of
 * transport targets. Prints ns/op (median of rounds) and ratios. Goal: parse no slower than new URL().
 */
import { Result } from "effect"
import { Host } from "effect/net"
import { parse } from "../src/index.ts"

// Real-world targets: every form of the PHP manual page plus common service addresses.
const corpus: ReadonlyArray<string> = [
  "tcp://127.0.0.1:80",
  "tcp://www.example.com:80",
  "tcp://[fe80::1]:80",
  "tcp://[2001:db8::1]:443",
  "udp://127.0.0.1:53",
  "udp://[::1]:53",
  "ssl://www.example.com:443",
  "tls://mail.example.com:465",
  "tlsv1.2://api.example.org:8443",
  "tlsv1.3://10.0.0.5:993",
  "tcp://smtp.example.net:587",
  "tcp://db.internal:5432",
  "tcp://redis-cache-01.prod.example.com:6379",
  "udp://8.8.8.8:53",
  "tls://[2606:4700:4700::1111]:853",
  "ssl://imap.gmail.com:993",
  "tcp://192.168.1.10:3306",
  "tcp://localhost:8080",
  "tls://[fe80::2]:443", // (new URL() refuses zone ids such as %25eth0, so none here)
  "tcp://ldap.example.com:389"
]

// What each competitor is given: new URL needs the scheme (all entries have one); Host parses host:port only.
const hostPorts = corpus.map((s) => s.slice(s.indexOf("://") + 3))

const ROUNDS = 21
const ITERATIONS = 10_000

interface Competitor {
  readonly name: string
  readonly inputs: ReadonlyArray<string>
  readonly run: (s: string) => unknown
  readonly samples: Array<number>
}

const competitors: ReadonlyArray<Competitor> = [
  { name: "netdial parse()", inputs: corpus, run: (s) => parse(s), samples: [] },
  { name: "new URL()", inputs: corpus, run: (s) => new URL(s), samples: [] },
  { name: "effect/net Host.hostPortFromString", inputs: hostPorts, run: (s) => Host.hostPortFromString(s), samples: [] }
]

let sink = 0
const pass = (c: Competitor, iterations: number): number => {
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) for (const s of c.inputs) sink ^= c.run(s) === undefined ? 1 : 0
  return Number(process.hrtime.bigint() - start) / (iterations * c.inputs.length)
}

// Sanity: every input is accepted by all three, so no one measures an early failure.
for (const s of corpus) {
  if (!Result.isSuccess(parse(s))) throw new Error(`parse refused ${s}`)
  if (!URL.canParse(s)) throw new Error(`new URL refused ${s}`)
}
for (const s of hostPorts) if (!Result.isSuccess(Host.hostPortFromString(s))) throw new Error(`Host refused ${s}`)

console.log(
  `@netdial/url parse benchmark: ${corpus.length} targets, ${ROUNDS} interleaved rounds × ${ITERATIONS} passes, Node ${process.version}`
)
for (const c of competitors) pass(c, 2_000) // warm up the JIT
// Rounds interleave the competitors, so that a slow moment of the machine hits all of them alike.
const ratios: Array<number> = []
for (let round = 0; round < ROUNDS; round++) {
  for (const c of competitors) c.samples.push(pass(c, ITERATIONS))
  ratios.push(competitors[0].samples[round] / competitors[1].samples[round])
}
const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
for (const c of competitors) {
  const sorted = [...c.samples].sort((a, b) => a - b)
  console.log(
    `  ${c.name.padEnd(36)} ${median(c.samples).toFixed(0).padStart(6)} ns/op   (min ${sorted[0].toFixed(0)}, max ${sorted[sorted.length - 1].toFixed(0)})`
  )
}
const vsUrl = median(ratios)
const vsHost = median(competitors[0].samples) / median(competitors[2].samples)
console.log(
  `  parse / new URL (median of per-round ratios): ${vsUrl.toFixed(2)}× ${vsUrl <= 1 ? "— goal met: not slower than new URL()" : "— goal missed: slower than new URL()"}`
)
console.log(`  parse / Host.hostPortFromString:              ${vsHost.toFixed(2)}×`)
if (sink === 42) console.log("")

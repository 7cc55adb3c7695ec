/**
 * A tour of @netdial/url: every address form of PHP's socket transports, and the inputs PHP is lax about.
 * Run from the repository root with `pnpm demo` (until apps/demo exists) or here with `pnpm example`.
 */
import { Result } from "effect"
import { format, fromHostPort, parse } from "../src/index.ts"

const color = process.stdout.isTTY && process.env.NO_COLOR === undefined
const paint = (code: number, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text)

const show = (label: string, result: ReturnType<typeof parse>) => {
  const left = label.padEnd(34)
  if (Result.isSuccess(result)) {
    const url = result.success
    const what =
      url.kind === "inet" ? `${url.hostKind} ${url.hostname} port ${url.port}` : `path ${JSON.stringify(url.path)}`
    console.log(`  ${left} ${paint(32, "ok ")} ${format(url).padEnd(32)} ${paint(2, what)}`)
  } else {
    const e = result.failure
    console.log(`  ${left} ${paint(31, "err")} ${paint(33, e.reason)} at ${e.position}: ${e.message}`)
  }
}

console.log("\nThe address forms of PHP's manual, parsed and printed canonically:")
for (const input of [
  "127.0.0.1:80",
  "tcp://127.0.0.1:80",
  "tcp://[fe80::1%25eth0]:80",
  "tcp://www.example.com:80",
  "udp://127.0.0.1:53",
  "ssl://www.example.com:443",
  "tls://[::1]:443",
  "tlsv1.2://www.example.com:443",
  "tlsv1.3://www.example.com:443",
  "sslv3://www.example.com:443",
  "unix:///run/app.sock",
  "udg://@abstract-name"
]) {
  show(input, parse(input))
}
show('fsockopen("::1", 80)', fromHostPort("::1", 80))
show('fsockopen("ssl://mail.example.com", 465)', fromHostPort("ssl://mail.example.com", 465))

console.log("\nWhere PHP is lax, netdial refuses and says what to write:")
for (const input of [
  "tcp://example.com:80abc",
  "tcp://example.com:080",
  "tcp://example.com:99999",
  "tcp://example.com:80/path",
  "tcp://user:pw@example.com:80",
  "tcp://::1:80",
  "tcp:/example.com:80",
  "x://example.com:80",
  "tcp://0x7f.0.0.1:80",
  "tcp://[127.0.0.1]:80",
  `unix:///tmp/${"x".repeat(110)}`
]) {
  show(input.length > 34 ? `${input.slice(0, 31)}...` : input, parse(input))
}
console.log("")

/**
 * The floor of the in-process benchmark: the same SMTP session written directly on `node:net` and `node:tls`, with
 * no netdial and no Effect. `localhost` resolved with `dns.lookup` (as netdial's resolver does), chain and name
 * verified against the CA (Node's own checks), replies read until their last line; no timeouts, no injection
 * checks, no parsing beyond the reply code. It shows what Node and OpenSSL themselves cost, so that the rest of
 * netdial's figure is netdial's own work.
 */
import * as Dns from "node:dns/promises"
import * as Net from "node:net"
import * as Tls from "node:tls"

const lastLine = /(?:^|\n)(\d{3}) [^\n]*\r\n$/

/** Waits for each complete reply on `socket`; `next(code)` fails unless the reply has that code. */
const replies = (socket: Net.Socket) => {
  let text = ""
  let waiting: { code: number; resolve: () => void; reject: (e: Error) => void } | undefined
  const check = () => {
    const match = lastLine.exec(text)
    if (match === null || waiting === undefined) return
    const { code, resolve, reject } = waiting
    waiting = undefined
    text = ""
    if (Number(match[1]) === code) resolve()
    else reject(new Error(`expected ${code}, got ${match[1]}`))
  }
  const onData = (chunk: Buffer) => {
    text += chunk.toString("latin1")
    check()
  }
  socket.on("data", onData)
  return {
    next: (code: number) =>
      new Promise<void>((resolve, reject) => {
        waiting = { code, resolve, reject }
        check()
      }),
    stop: () => socket.off("data", onData)
  }
}

const contexts = new Map<string, Tls.SecureContext>()

/** One session; rejects unless the dialogue, the verified handshake and QUIT's 221 all succeed. */
export const nodeTlsSession = async (port: number, ca: string, ecdhCurve?: string): Promise<void> => {
  const { address } = await Dns.lookup("localhost")
  const plain = Net.connect({ host: address, port })
  await new Promise<void>((resolve, reject) => {
    plain.once("connect", resolve)
    plain.once("error", reject)
  })
  const before = replies(plain)
  await before.next(220)
  plain.write("EHLO localhost\r\n")
  await before.next(250)
  plain.write("STARTTLS\r\n")
  await before.next(220)
  before.stop()
  const key = `${ecdhCurve ?? ""}\n${ca}`
  let secureContext = contexts.get(key)
  if (secureContext === undefined) {
    secureContext = Tls.createSecureContext(ecdhCurve === undefined ? { ca } : { ca, ecdhCurve })
    contexts.set(key, secureContext)
  }
  const secure = Tls.connect({ socket: plain, secureContext, servername: "localhost" })
  await new Promise<void>((resolve, reject) => {
    secure.once("secureConnect", resolve)
    secure.once("error", reject)
  })
  const after = replies(secure)
  secure.write("EHLO localhost\r\n")
  await after.next(250)
  secure.write("QUIT\r\n")
  await after.next(221)
  secure.end()
  secure.destroy()
}

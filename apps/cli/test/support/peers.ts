/** Loopback peers for the CLI tests: plain node servers (echo, silent), a TLS echo, and tool lookup. */
import { execFileSync } from "node:child_process"
import * as Dgram from "node:dgram"
import * as Net from "node:net"
import * as Tls from "node:tls"

export interface Peer {
  readonly port: number
  /** What each accepted connection sent, in order. */
  readonly received: Array<string>
  readonly closed: () => number
  readonly close: () => Promise<void>
}

const track = (server: Net.Server, port: () => number, received: Array<string>, closedCount: () => number): Peer => {
  const sockets = new Set<Net.Socket>()
  server.on("connection", (s: Net.Socket) => {
    sockets.add(s)
    s.on("close", () => sockets.delete(s))
  })
  return {
    get port() {
      return port()
    },
    received,
    closed: closedCount,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}

/** A connection handler that echoes, and records what the connection sent once it has closed. */
const echoing =
  (received: Array<string>, onClose: () => void) =>
  (socket: Net.Socket): void => {
    let got = ""
    socket.on("data", (d) => {
      got += d.toString("utf8")
      socket.write(d)
    })
    socket.on("end", () => socket.end())
    socket.on("error", () => {})
    socket.on("close", () => {
      received.push(got)
      onClose()
    })
  }

/** TCP (or unix, given a path) echo server; records what each connection sent once it ends. */
export const echoServer = async (where: { host?: string; path?: string } = {}): Promise<Peer> => {
  const received: Array<string> = []
  let closed = 0
  const server = Net.createServer(echoing(received, () => closed++))
  await new Promise<void>((resolve) =>
    where.path !== undefined ? server.listen(where.path, resolve) : server.listen(0, where.host ?? "127.0.0.1", resolve)
  )
  return track(
    server,
    () => (server.address() as Net.AddressInfo).port,
    received,
    () => closed
  )
}

/** TLS echo server with the given certificate. */
export const tlsEchoServer = async (options: Tls.TlsOptions & { host?: string }): Promise<Peer> => {
  const received: Array<string> = []
  let closed = 0
  const server = Tls.createServer(
    options,
    echoing(received, () => closed++)
  )
  server.on("tlsClientError", () => {})
  await new Promise<void>((resolve) => server.listen(0, options.host ?? "127.0.0.1", resolve))
  return track(
    server,
    () => (server.address() as Net.AddressInfo).port,
    received,
    () => closed
  )
}

/** UDP echo server on 127.0.0.1. */
export const udpEchoServer = async () => {
  const socket = Dgram.createSocket("udp4")
  const received: Array<string> = []
  socket.on("message", (msg, rinfo) => {
    received.push(msg.toString("utf8"))
    socket.send(msg, rinfo.port, rinfo.address)
  })
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve))
  return {
    port: socket.address().port,
    received,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve()))
  }
}

/** A free TCP port on 127.0.0.1 with nothing listening (for connection-refused cases). */
export const closedPort = async (): Promise<number> => {
  const server = Net.createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as Net.AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** `true` when `tool` runs; used to skip interop tests with a message naming the tool. */
export const hasTool = (tool: string, args: ReadonlyArray<string> = ["version"]): boolean => {
  try {
    execFileSync(tool, [...args], { stdio: "ignore", timeout: 5000 })
    return true
  } catch {
    return false
  }
}

/**
 * From an inet transport URL to a connected net.Socket: resolve every address through effect/net's
 * `AddressResolver`, filter by family preference and address policy (after resolution, so DNS tricks cannot
 * bypass it), then race them with Happy Eyeballs under one connect timeout.
 */
import type * as Net from "node:net"
import type { InetTransportUrl } from "@netdial/url"
import { Duration, Effect } from "effect"
import { type AddressResolver, Host, NetAddress } from "effect/net"
import type { AddressPolicy } from "../AddressPolicy.ts"
import { TransportError } from "../TransportError.ts"
import { classify } from "./classify.ts"
import { type Attempt, type AttemptFailure, dial, interleave } from "./happyEyeballs.ts"

export type FamilyPreference = "any" | "ipv4" | "ipv6" | "prefer-ipv4" | "prefer-ipv6"

export interface DialSettings {
  readonly connectTimeout: Duration.Duration
  readonly attemptDelay: Duration.Duration
  readonly family: FamilyPreference
  readonly addressPolicy: AddressPolicy | undefined
  readonly localAddress: string | undefined
  readonly localPort: number | undefined
  readonly noDelay: boolean | undefined
  readonly keepAlive: boolean | Duration.Input | undefined
}

export interface Dialed {
  readonly socket: Net.Socket
  readonly attempt: Attempt
}

const attemptOf = (address: NetAddress.InetAddress, zoneHost?: string): Attempt => {
  const host = zoneHost ?? NetAddress.formatHost(address)
  const v4 = NetAddress.isInetAddressV4(address)
  return {
    host,
    port: address.port,
    family: v4 ? 4 : 6,
    label: v4 ? `${host}:${address.port}` : `[${host}]:${address.port}`
  }
}

/** Resolves the URL's host to the candidate addresses (IP literals need no lookup). */
export const resolveAttempts = (
  url: InetTransportUrl,
  resolver: AddressResolver.AddressResolver["Service"]
): Effect.Effect<ReadonlyArray<Attempt>, TransportError> => {
  if (url.hostKind === "ipv4")
    return Effect.succeed([{ host: url.hostname, port: url.port, family: 4, label: `${url.hostname}:${url.port}` }])
  if (url.hostKind === "ipv6") {
    return Effect.succeed([{ host: url.hostname, port: url.port, family: 6, label: `[${url.hostname}]:${url.port}` }])
  }
  return resolver.resolve(Host.hostPortUnsafe(url.host, url.port)).pipe(
    Effect.map((addresses) => addresses.filter(NetAddress.isInetAddress).map((a) => attemptOf(a))),
    Effect.mapError((error) => {
      const dnsReason = (error as { reason?: unknown }).reason
      return new TransportError({
        reason: dnsReason === "Timeout" ? "TimedOut" : "HostNotFound",
        message:
          dnsReason === "Timeout"
            ? `resolving ${url.hostname} timed out`
            : `the host name ${url.hostname} does not resolve (${error.message}); check the spelling, or use an IP address`,
        url: String(url),
        operation: "resolve",
        ...(typeof dnsReason === "string" ? { code: dnsReason } : {}),
        cause: error
      })
    })
  )
}

/** Applies the family preference: filters for `ipv4`/`ipv6`, reorders for `prefer-*`, interleaves for `any`. */
export const orderAttempts = (attempts: ReadonlyArray<Attempt>, family: FamilyPreference): ReadonlyArray<Attempt> => {
  switch (family) {
    case "ipv4":
      return attempts.filter((a) => a.family === 4)
    case "ipv6":
      return attempts.filter((a) => a.family === 6)
    case "prefer-ipv4":
      return interleave([...attempts.filter((a) => a.family === 4), ...attempts.filter((a) => a.family === 6)])
    case "prefer-ipv6":
      return interleave([...attempts.filter((a) => a.family === 6), ...attempts.filter((a) => a.family === 4)])
    default:
      return interleave(attempts)
  }
}

/** Drops denied addresses; fails with `AddressDenied` when none is left. */
export const applyPolicy = (
  url: InetTransportUrl,
  attempts: ReadonlyArray<Attempt>,
  policy: AddressPolicy | undefined
): Effect.Effect<ReadonlyArray<Attempt>, TransportError> => {
  if (policy === undefined) return Effect.succeed(attempts)
  const allowed: Array<Attempt> = []
  const denied: Array<string> = []
  for (const attempt of attempts) {
    const ip = NetAddress.ipFromString(attempt.host.split("%")[0])
    const why = ip._tag === "Success" ? policy.check(ip.success) : `${attempt.host} is not an IP address`
    if (why === undefined) allowed.push(attempt)
    else denied.push(why)
  }
  if (allowed.length > 0) return Effect.succeed(allowed)
  return Effect.fail(
    new TransportError({
      reason: "AddressDenied",
      message: `refused to connect to ${url.hostname}: ${denied.join("; ")}`,
      url: String(url),
      operation: "policy"
    })
  )
}

const summarize = (url: InetTransportUrl, failures: ReadonlyArray<AttemptFailure>): TransportError => {
  const errors = failures.map((f) =>
    classify(f.error, { url: String(url), address: f.attempt.label, operation: "connect" })
  )
  if (errors.length === 1) return errors[0]
  const reasons = new Set(errors.map((e) => e.reason))
  const reason =
    reasons.size === 1 ? errors[0].reason : (errors.find((e) => e.reason !== "Refused") ?? errors[0]).reason
  return new TransportError({
    reason,
    message: `connect to ${url.hostname}:${url.port} failed on all ${errors.length} addresses: ${errors.map((e) => `${e.address} ${e.code ?? e.reason}`).join(", ")}`,
    url: String(url),
    operation: "connect",
    attempts: errors.map((e) => ({ address: e.address, reason: e.reason, code: e.code, message: e.message })),
    ...(errors[errors.length - 1].code !== undefined ? { code: errors[errors.length - 1].code! } : {})
  })
}

const timedOut = (url: InetTransportUrl, settings: DialSettings, what: string) =>
  new TransportError({
    reason: "TimedOut",
    message: `connect to ${url.hostname}:${url.port} timed out after ${Duration.format(settings.connectTimeout)} (connectTimeout, DNS included)${what}`,
    url: String(url),
    operation: "connect",
    code: "ETIMEDOUT"
  })

/**
 * Connects with Happy Eyeballs within `timeoutMs`; interruption or the deadline destroys every attempt. The deadline
 * is a plain timer inside the callback rather than an Effect timeout race, which would fork two fibers per connect.
 */
export const connectAttempts = (
  url: InetTransportUrl,
  attempts: ReadonlyArray<Attempt>,
  settings: DialSettings,
  timeoutMs: number = Duration.toMillis(settings.connectTimeout)
): Effect.Effect<Dialed, TransportError> => {
  if (attempts.length === 0) {
    return Effect.fail(
      new TransportError({
        reason: "HostNotFound",
        message: `${url.hostname} has no ${settings.family === "ipv4" ? "IPv4" : settings.family === "ipv6" ? "IPv6" : ""} address to connect to (family: ${settings.family})`,
        url: String(url),
        operation: "resolve"
      })
    )
  }
  const keepAlive = settings.keepAlive
  return Effect.callback<Dialed, TransportError>((resume) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const cancel = dial(
      attempts,
      {
        attemptDelay: Duration.toMillis(settings.attemptDelay),
        localAddress: settings.localAddress,
        localPort: settings.localPort,
        noDelay: settings.noDelay,
        keepAlive: keepAlive === undefined ? undefined : keepAlive !== false,
        keepAliveInitialDelay:
          keepAlive === undefined || typeof keepAlive === "boolean" ? undefined : Duration.toMillis(keepAlive)
      },
      (result) => {
        if (timer !== undefined) clearTimeout(timer)
        if ("socket" in result) resume(Effect.succeed(result as Dialed))
        else resume(Effect.fail(summarize(url, result as ReadonlyArray<AttemptFailure>)))
      }
    )
    if (Number.isFinite(timeoutMs)) {
      timer = setTimeout(
        () => {
          cancel()
          resume(Effect.fail(timedOut(url, settings, `; tried ${attempts.map((a) => a.label).join(", ")}`)))
        },
        Math.max(0, timeoutMs)
      )
    }
    return Effect.sync(() => {
      if (timer !== undefined) clearTimeout(timer)
      cancel()
    })
  })
}

/** Resolve, order, check, connect. */
export const dialInet = (
  url: InetTransportUrl,
  settings: DialSettings,
  resolver: AddressResolver.AddressResolver["Service"]
): Effect.Effect<Dialed, TransportError> => {
  const budget = Duration.toMillis(settings.connectTimeout)
  if (url.hostKind !== "domain") {
    // IP literal: no lookup, so the whole budget is the connect's own timer.
    return resolveAttempts(url, resolver).pipe(
      Effect.flatMap((attempts) => applyPolicy(url, orderAttempts(attempts, settings.family), settings.addressPolicy)),
      Effect.flatMap((attempts) => connectAttempts(url, attempts, settings, budget))
    )
  }
  const started = Date.now()
  const resolving = resolveAttempts(url, resolver)
  return (
    Number.isFinite(budget)
      ? resolving.pipe(
          Effect.timeoutOrElse({
            duration: settings.connectTimeout,
            orElse: () => Effect.fail(timedOut(url, settings, " while resolving the name"))
          })
        )
      : resolving
  ).pipe(
    Effect.map((attempts) => orderAttempts(attempts, settings.family)),
    Effect.flatMap((attempts) => applyPolicy(url, attempts, settings.addressPolicy)),
    Effect.flatMap((attempts) => connectAttempts(url, attempts, settings, budget - (Date.now() - started)))
  )
}

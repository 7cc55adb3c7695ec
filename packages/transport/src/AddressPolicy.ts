/**
 * Which resolved addresses a client may connect to. The policy runs after DNS resolution, on every address, so a
 * name that resolves to 127.0.0.1 or 169.254.169.254 (the classic SSRF targets) is refused however it is spelled.
 */
import { NetAddress } from "effect/net"

export interface AddressPolicy {
  /** For messages: what the policy allows. */
  readonly name: string
  /** `undefined` to allow, or why the address is denied. */
  readonly check: (address: NetAddress.IpAddress) => string | undefined
}

/** An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is judged as the IPv4 address it carries. */
const unmap = (address: NetAddress.IpAddress): NetAddress.IpAddress => {
  if (NetAddress.isIpv6Address(address)) {
    const inner = NetAddress.fromIpv4Mapped(address)
    if (inner._tag === "Some") return inner.value
  }
  return address
}

const rule =
  (name: string, denied: (address: NetAddress.IpAddress) => boolean, why: string): AddressPolicy["check"] =>
  (address) =>
    denied(unmap(address)) ? `${NetAddress.formatIp(address)} is ${why} (policy: ${name})` : undefined

/** Allows everything (the default). */
export const allowAll: AddressPolicy = { name: "allow all", check: () => undefined }

export const denyLoopback: AddressPolicy = {
  name: "deny loopback",
  check: rule("deny loopback", NetAddress.isLoopback, "a loopback address")
}

export const denyLinkLocal: AddressPolicy = {
  name: "deny link-local",
  check: rule(
    "deny link-local",
    NetAddress.isLinkLocal,
    "a link-local address (e.g. cloud metadata at 169.254.169.254)"
  )
}

export const denyPrivate: AddressPolicy = {
  name: "deny private",
  check: rule(
    "deny private",
    (a) => (NetAddress.isIpv4Address(a) ? NetAddress.isPrivate(a) || isCarrierGrade(a) : NetAddress.isUniqueLocal(a)),
    "a private address (RFC 1918, RFC 6598 or IPv6 unique local)"
  )
}

export const denyUnspecified: AddressPolicy = {
  name: "deny unspecified",
  check: rule("deny unspecified", NetAddress.isUnspecified, "the unspecified address")
}

export const denyMulticast: AddressPolicy = {
  name: "deny multicast",
  check: rule("deny multicast", NetAddress.isMulticast, "a multicast address")
}

/** All of the above: only public unicast addresses. The usual SSRF guard for user-supplied URLs. */
export const publicOnly: AddressPolicy = combine("public only", [
  denyLoopback,
  denyLinkLocal,
  denyPrivate,
  denyUnspecified,
  denyMulticast
])

/** Denies when any of the policies denies. */
export function combine(name: string, policies: ReadonlyArray<AddressPolicy>): AddressPolicy {
  return {
    name,
    check: (address) => {
      for (const policy of policies) {
        const why = policy.check(address)
        if (why !== undefined) return why
      }
      return undefined
    }
  }
}

/** Allows only addresses for which `predicate` holds; `name` says what it allows. */
export const allowOnly = (name: string, predicate: (address: NetAddress.IpAddress) => boolean): AddressPolicy => ({
  name,
  check: (address) =>
    predicate(unmap(address)) ? undefined : `${NetAddress.formatIp(address)} is not allowed (policy: ${name})`
})

const isCarrierGrade = (address: NetAddress.Ipv4Address): boolean => {
  const [a, b] = NetAddress.ipv4ToOctets(address)
  return a === 100 && b >= 64 && b <= 127
}

export const isAddressPolicy = (u: unknown): u is AddressPolicy =>
  typeof u === "object" &&
  u !== null &&
  typeof (u as AddressPolicy).check === "function" &&
  typeof (u as AddressPolicy).name === "string"

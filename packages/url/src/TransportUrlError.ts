/**
 * The one error `parse` and `fromHostPort` return: what was wrong, where, and what to write instead.
 */
import { Schema } from "effect"

/** Every way an input can be refused. The set is closed: tools may switch on it. */
export const reasons = [
  "NotAString",
  "Empty",
  "ControlCharacter",
  "Whitespace",
  "InvalidScheme",
  "MissingSlashes",
  "Userinfo",
  "Path",
  "Query",
  "Fragment",
  "MissingHost",
  "InvalidHost",
  "LegacyIpv4",
  "UnbracketedIpv6",
  "BracketedNonIpv6",
  "InvalidIpv6",
  "MissingPort",
  "InvalidPort",
  "PortLeadingZero",
  "PortOutOfRange",
  "PortZero",
  "PortNotAllowed",
  "PortConflict",
  "EmptyPath",
  "PathTooLong",
  "InvalidOption"
] as const

export type TransportUrlErrorReason = (typeof reasons)[number]

export class TransportUrlError extends Schema.TaggedError<TransportUrlError>()("TransportUrlError", {
  /** What kind of problem it is. */
  reason: Schema.Literals(reasons),
  /** The text that was parsed (for `fromHostPort`, the host argument). */
  input: Schema.String,
  /** Index in `input` (UTF-16 code units) of the first character that is wrong. */
  position: Schema.Number,
  /** What was wrong, in one sentence, ending with the fix. */
  message: Schema.String,
  /** A corrected input to suggest, when one can be derived. */
  suggestion: Schema.optional(Schema.String)
}) {}

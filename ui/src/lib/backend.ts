// The UI's one door to Rust. Commands come from the generated bindings; this
// layer only turns whatever `invoke` rejected with into a typed ApiError, so
// screens can branch on `kind` instead of parsing strings.
import type { ApiError } from "./bindings/ApiError";
import type { ErrorKind } from "./bindings/ErrorKind";

export * as commands from "./bindings/commands";

const KINDS: ReadonlySet<string> = new Set<ErrorKind>([
  "invalid-input",
  "not-found",
  "already-exists",
  "bad-credentials",
  "expired-credentials",
  "permission-denied",
  "wrong-region",
  "no-such-bucket",
  "clock-skew",
  "throttled",
  "offline",
  "not-supported",
  "server",
  "keyring-unavailable",
  "disk-full",
  "io",
  "busy",
  "stale",
  "internal",
]);

function isApiError(value: unknown): value is ApiError {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.kind === "string" && KINDS.has(v.kind) && typeof v.message === "string";
}

/** Any rejection as an ApiError; unknown shapes become `internal`. */
export function toApiError(reason: unknown): ApiError {
  if (isApiError(reason)) return reason;
  const message =
    reason instanceof Error ? reason.message : typeof reason === "string" ? reason : "Unexpected error";
  return { kind: "internal", message, hint: null, field: null, retryable: false };
}

/** True when the app runs inside the Tauri window (not a plain browser). */
export function inTauri(): boolean {
  return typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;
}

// Generated from crates/api/src/command.rs by `cargo test -p bucketsync-api`. Do not edit.
import { invoke } from "@tauri-apps/api/core";
import type { ApiError } from "./ApiError";
import type { Overview } from "./Overview";
import type { ProviderInfo } from "./ProviderInfo";

/** Every command rejects with an ApiError. */
export type CommandError = ApiError;

/** The state the first screen shows. */
export function overview(): Promise<Overview> {
  return invoke("overview");
}

/** The providers the setup wizard offers. */
export function providers(): Promise<Array<ProviderInfo>> {
  return invoke("providers");
}

// How a pair's state reads on the dashboard. The state comes from Rust as
// is; this only chooses words and a tone for it.
import type { Fix } from "../bindings/Fix";
import type { Overall } from "../bindings/Overall";
import type { PairState } from "../bindings/PairState";
import { ago, bytes, count, duration } from "../format";

export type Tone = "ok" | "busy" | "warn" | "error" | "muted";

export interface StatusLine {
  label: string;
  tone: Tone;
  detail: string | null;
  /** 0..1 while transferring. */
  progress: number | null;
}

export function describe(state: PairState, now: number = Date.now()): StatusLine {
  switch (state.state) {
    case "idle":
      return {
        label: "Up to date",
        tone: "ok",
        detail: state.last_sync_ms === null ? null : `Last synced ${ago(state.last_sync_ms, now)}`,
        progress: null,
      };
    case "scanning":
      return { label: "Checking for changes…", tone: "busy", detail: null, progress: null };
    case "transferring": {
      const parts = [
        `${state.files_done} of ${count(state.files_total, "file")}`,
        `${bytes(state.bytes_done)} of ${bytes(state.bytes_total)}`,
      ];
      if (state.rate_bps > 0) parts.push(`${bytes(state.rate_bps)}/s`);
      if (state.seconds_left !== null) parts.push(`${duration(state.seconds_left)} left`);
      const progress = state.bytes_total > 0 ? state.bytes_done / state.bytes_total : state.files_total > 0 ? state.files_done / state.files_total : 0;
      return { label: "Transferring", tone: "busy", detail: parts.join(" · "), progress: Math.min(1, progress) };
    }
    case "paused":
      return { label: "Paused", tone: "muted", detail: "Nothing is synced until you resume.", progress: null };
    case "needs-confirmation":
      return { label: "Needs your confirmation", tone: "warn", detail: state.reason, progress: null };
    case "error": {
      const retry = state.retry_at_ms === null ? null : `Tries again ${retryIn(state.retry_at_ms, now)}.`;
      return { label: errorLabel(state.kind), tone: "error", detail: [state.message, retry].filter(Boolean).join(" "), progress: null };
    }
    case "not-running":
      return { label: "Not running here", tone: "muted", detail: "Another Bucketsync runs this pair.", progress: null };
  }
}

function retryIn(at: number, now: number): string {
  const s = (at - now) / 1000;
  return s <= 1 ? "now" : `in ${duration(s)}`;
}

function errorLabel(kind: string): string {
  switch (kind) {
    case "bad-credentials":
      return "Keys rejected";
    case "expired-credentials":
      return "Keys expired";
    case "permission-denied":
      return "Keys lack permission";
    case "offline":
      return "Offline";
    case "disk-full":
      return "Disk full";
    case "no-such-bucket":
      return "Bucket not found";
    default:
      return "Error";
  }
}

/** The button that fixes an error. */
export function fixLabel(fix: Fix): string {
  switch (fix) {
    case "enter-new-keys":
      return "Enter new keys";
    case "edit-connection":
      return "Edit connection";
    case "reconnect-folder":
      return "Sync now";
    case "check-folder-permissions":
      return "Show folder";
    case "edit-ignore-file":
      return "Open ignore file";
    case "free-disk-space":
      return "Sync now";
  }
}

/** The sidebar's one-line summary (the same words as the tray). */
export function overallText(o: Overall | null): string {
  switch (o) {
    case null:
      return "";
    case "idle":
      return "Up to date";
    case "syncing":
      return "Syncing…";
    case "needs-you":
      return "Needs you";
    case "paused":
      return "Paused";
    case "not-running":
      return "Not syncing here";
  }
}

// The dashboard's data, kept live: loaded with one command, then updated
// from the engine's typed events (generated from Rust, like the commands).
import { commands, inTauri, toApiError } from "./backend";
import type { ApiError } from "./bindings/ApiError";
import type { Dashboard } from "./bindings/Dashboard";
import type { PolicyView } from "./bindings/PolicyView";
import { onEngine, onPairPass, onPairStatus, onPairWarning } from "./bindings/events";

export interface Toast {
  id: number;
  text: string;
  tone: "info" | "warn";
}

export const live = $state<{
  dashboard: Dashboard | null;
  policies: PolicyView[];
  error: ApiError | null;
  toasts: Toast[];
  /** Bumped after every pass, so the activity screen reloads. */
  passes: number;
}>({ dashboard: null, policies: [], error: null, toasts: [], passes: 0 });

let toastId = 0;
export function toast(text: string, tone: Toast["tone"] = "info"): void {
  const id = ++toastId;
  live.toasts = [...live.toasts.slice(-3), { id, text, tone }];
  setTimeout(() => (live.toasts = live.toasts.filter((t) => t.id !== id)), 8000);
}

let pending: Promise<void> | null = null;
export function refresh(): Promise<void> {
  pending ??= (async () => {
    try {
      const [dashboard, policies] = await Promise.all([commands.dashboard(), commands.listPolicies()]);
      live.dashboard = dashboard;
      live.policies = policies;
      live.error = null;
    } catch (e) {
      live.error = toApiError(e);
    } finally {
      pending = null;
    }
  })();
  return pending;
}

/** Listens to the engine for as long as the window lives. */
export async function listen(): Promise<void> {
  if (!inTauri()) return;
  await onPairStatus(({ pair, state }) => {
    const card = live.dashboard?.pairs.find((c) => c.pair.name === pair);
    if (!card) return void refresh();
    const before = card.state.state;
    card.state = state;
    // A new kind of state may change the overall status and the issues.
    if (before !== state.state && state.state !== "transferring") void refresh();
  });
  await onPairPass(() => {
    live.passes++;
    void refresh();
  });
  await onPairWarning(({ pair, message }) => toast(`${pair}: ${message}`, "warn"));
  // Notices become native notifications (Rust shows them); the cards
  // already show the same thing here.
  await onEngine((engine) => {
    if (live.dashboard) live.dashboard.engine = engine;
    void refresh();
  });
}

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
// A confirmation ("Deleted 3 objects") is read at a glance; a warning may
// need a second look. Toasts never take clicks (they may sit over the
// transfers panel), so they must go by themselves, and soon.
const TOAST_MS: Record<Toast["tone"], number> = { info: 4000, warn: 10000 };
export function toast(text: string, tone: Toast["tone"] = "info"): void {
  const id = ++toastId;
  live.toasts = [...live.toasts.slice(-2), { id, text, tone }];
  setTimeout(() => (live.toasts = live.toasts.filter((t) => t.id !== id)), TOAST_MS[tone]);
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

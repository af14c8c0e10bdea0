// Generated from crates/api/src/command.rs by `cargo test -p bucketsync-api`. Do not edit.
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { EngineView } from "./EngineView";
import type { NoticeEvent } from "./NoticeEvent";
import type { PairPassEvent } from "./PairPassEvent";
import type { PairStatusEvent } from "./PairStatusEvent";
import type { PairWarningEvent } from "./PairWarningEvent";
import type { TransferEvent } from "./TransferEvent";

/** Every event name the desktop emits. */
export const EVENT_NAMES = ["pair-status", "pair-warning", "pair-pass", "engine", "notice", "transfer"] as const;

/** A pair's state changed (progress at most ~10 times a second per pair). */
export function onPairStatus(handler: (payload: PairStatusEvent) => void): Promise<UnlistenFn> {
  return listen<PairStatusEvent>("pair-status", (e) => handler(e.payload));
}

/** Something about a pair worth showing that did not stop it. */
export function onPairWarning(handler: (payload: PairWarningEvent) => void): Promise<UnlistenFn> {
  return listen<PairWarningEvent>("pair-warning", (e) => handler(e.payload));
}

/** A pass ended; the pair's issues may have changed. */
export function onPairPass(handler: (payload: PairPassEvent) => void): Promise<UnlistenFn> {
  return listen<PairPassEvent>("pair-pass", (e) => handler(e.payload));
}

/** The engine started, was refused, or stopped. */
export function onEngine(handler: (payload: EngineView) => void): Promise<UnlistenFn> {
  return listen<EngineView>("engine", (e) => handler(e.payload));
}

/** Worth a native notification. */
export function onNotice(handler: (payload: NoticeEvent) => void): Promise<UnlistenFn> {
  return listen<NoticeEvent>("notice", (e) => handler(e.payload));
}

/** Progress of one file of a browser upload or download. */
export function onTransfer(handler: (payload: TransferEvent) => void): Promise<UnlistenFn> {
  return listen<TransferEvent>("transfer", (e) => handler(e.payload));
}

// The transfers panel's state: one line per transfer the browser started,
// with a line per file as `transfer` events arrive. Lives outside the
// screen so transfers keep their progress while another screen is open.
import type { ApiError } from "../bindings/ApiError";
import type { TransferEvent } from "../bindings/TransferEvent";
import type { TransferReport } from "../bindings/TransferReport";
import { onTransfer } from "../bindings/events";

export interface FileLine {
  key: string;
  state: string;
  done: number;
  total: number;
  message: string | null;
}

export interface Transfer {
  id: string;
  direction: "upload" | "download";
  label: string;
  state: "running" | "done" | "failed" | "cancelled";
  files: FileLine[];
  message: string | null;
}

let next = 0;

/** The transfers, newest first (at most 20 kept). */
export const board = $state<{ list: Transfer[] }>({ list: [] });

function find(id: string): Transfer | undefined {
  return board.list.find((t) => t.id === id);
}

export const transfers = {
  /** A new transfer; returns its id (sent to Rust, so events match). */
  start(direction: Transfer["direction"], label: string): string {
    const id = `t${Date.now().toString(36)}-${++next}`;
    board.list = [{ id, direction, label, state: "running", files: [], message: null }, ...board.list.slice(0, 19)];
    return id;
  },
  progress(e: TransferEvent): void {
    const t = find(e.id);
    if (!t) return;
    const line = t.files.find((f) => f.key === e.key);
    const fresh = { key: e.key, state: e.state, done: e.bytes_done, total: e.bytes_total, message: e.message };
    if (line) Object.assign(line, fresh);
    else t.files.push(fresh);
  },
  finish(id: string, report: TransferReport): void {
    const t = find(id);
    if (!t) return;
    t.state = report.cancelled ? "cancelled" : report.failed.length > 0 ? "failed" : "done";
    // A cancelled transfer says so first: "0 done" alone read as a failure.
    const parts = report.cancelled ? ["cancelled", `${report.done.length} done`] : [`${report.done.length} done`];
    if (report.skipped.length > 0) parts.push(`${report.skipped.length} skipped`);
    if (report.failed.length > 0) parts.push(`${report.failed.length} failed`);
    t.message = parts.join(", ");
  },
  fail(id: string, error: ApiError): void {
    const t = find(id);
    if (!t) return;
    t.state = "failed";
    t.message = error.hint ? `${error.message}. ${error.hint}` : error.message;
  },
  /** Forgets the transfers that ended. */
  clear(): void {
    board.list = board.list.filter((t) => t.state === "running");
  },
};

let listening: Promise<unknown> | null = null;
/** Hears `transfer` events for as long as the window lives (once). */
export function listenTransfers(): Promise<unknown> {
  listening ??= onTransfer((e) => transfers.progress(e));
  return listening;
}

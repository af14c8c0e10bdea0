// The bucket browser's pure logic: breadcrumbs, sorting, filtering, the
// window of rows to render, names. No Svelte, no Tauri: Vitest covers it.
import type { EntryView } from "../bindings/EntryView";

export interface Crumb {
  /** What the crumb shows. */
  label: string;
  /** The prefix it opens ("" for the bucket's top; else ends with "/"). */
  prefix: string;
}

/** "photos/2024/" -> bucket, photos, 2024 (each with the prefix it opens). */
export function breadcrumbs(bucket: string, prefix: string): Crumb[] {
  const out: Crumb[] = [{ label: bucket, prefix: "" }];
  let at = "";
  for (const part of prefix.split("/")) {
    if (part === "") continue;
    at += `${part}/`;
    out.push({ label: part, prefix: at });
  }
  return out;
}

/** The folder above: "a/b/" -> "a/", "a/" -> "". */
export function parentPrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/$/, "");
  const i = trimmed.lastIndexOf("/");
  return i < 0 ? "" : trimmed.slice(0, i + 1);
}

export type SortKey = "name" | "size" | "date";
export type SortDir = "asc" | "desc";

/** Folders first, then by the chosen column; ties by name. A new array. */
export function sortEntries(entries: readonly EntryView[], key: SortKey, dir: SortDir): EntryView[] {
  const sign = dir === "asc" ? 1 : -1;
  const byName = (a: EntryView, b: EntryView): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...entries].sort((a, b) => {
    if (a.folder !== b.folder) return a.folder ? -1 : 1;
    let c = 0;
    if (key === "size") c = a.size - b.size;
    else if (key === "date") c = (a.last_modified_ms ?? 0) - (b.last_modified_ms ?? 0);
    if (c === 0) c = byName(a, b);
    return c * sign;
  });
}

/** Entries whose name contains the text, case-insensitively. */
export function filterEntries(entries: readonly EntryView[], text: string): EntryView[] {
  const t = text.trim().toLowerCase();
  if (t === "") return [...entries];
  return entries.filter((e) => e.name.toLowerCase().includes(t));
}

export interface RowWindow {
  /** First row to render. */
  start: number;
  /** One past the last row to render. */
  end: number;
  /** Space above the first rendered row, px. */
  padTop: number;
  /** Space below the last rendered row, px. */
  padBottom: number;
}

/** The rows to render for a scroll position, with `overscan` extra each side. */
export function rowWindow(
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  count: number,
  overscan = 8,
): RowWindow {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const visible = Math.ceil(Math.max(viewport, rowHeight) / rowHeight);
  const end = Math.min(count, first + visible + 2 * overscan);
  const start = Math.min(first, end);
  return { start, end, padTop: start * rowHeight, padBottom: (count - end) * rowHeight };
}

/** Whether the next page should load: within `rows` rows of the end. */
export function nearEnd(win: RowWindow, count: number, rows = 40): boolean {
  return count - win.end < rows;
}

/**
 * The key a rename leads to, or an error in plain words. `name` is the new
 * last segment; a folder keeps its trailing "/".
 */
export function renameTarget(entry: EntryView, prefix: string, name: string): { to: string } | { error: string } {
  const n = name.trim().replace(/\/+$/, "");
  if (n === "") return { error: "Give a name." };
  if (n.includes("/")) return { error: "A name cannot contain '/'. Move it by renaming its folder instead." };
  if (n === "." || n === "..") return { error: "'.' and '..' cannot be names." };
  const to = prefix + n + (entry.folder ? "/" : "");
  if (to === entry.key) return { error: "That is its name already." };
  return { to };
}

/**
 * The last name of a local path. `/` separates names everywhere; `\` only
 * in a Windows path (on Linux and macOS it can be part of a file's name).
 */
export function localName(path: string): string {
  const windows = /^[A-Za-z]:[\\/]|^\\\\/.test(path);
  const parts = path.split(windows ? /[\\/]/ : "/").filter((p) => p !== "");
  return parts.at(-1) ?? path;
}

/** Where a key press moves the keyboard cursor in a list of `count` rows. */
export function moveCursor(cursor: number, key: string, count: number, pageRows: number): number | null {
  if (count === 0) return null;
  const step: Record<string, number> = {
    ArrowDown: cursor + 1,
    ArrowUp: cursor - 1,
    PageDown: cursor + Math.max(1, pageRows - 1),
    PageUp: cursor - Math.max(1, pageRows - 1),
    Home: 0,
    End: count - 1,
  };
  const to = step[key];
  return to === undefined ? null : Math.min(count - 1, Math.max(0, to));
}

/** The scroll position that shows row `index` whole, moving as little as possible. */
export function scrollToShow(index: number, scrollTop: number, viewport: number, rowHeight: number): number {
  const top = index * rowHeight;
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + viewport) return Math.max(0, top + rowHeight - viewport);
  return scrollTop;
}

/** The last segment of a key, without a folder's trailing "/". */
export function baseName(key: string): string {
  const k = key.replace(/\/$/, "");
  return k.slice(k.lastIndexOf("/") + 1);
}

/** Expiries the link menu offers (seconds), 1 hour to the SigV4 maximum. */
export const LINK_EXPIRIES: { label: string; secs: number }[] = [
  { label: "1 hour", secs: 3600 },
  { label: "6 hours", secs: 6 * 3600 },
  { label: "1 day", secs: 86400 },
  { label: "3 days", secs: 3 * 86400 },
  { label: "7 days (the most a signed link can last)", secs: 7 * 86400 },
];

/** Percent done of a transfer line, 0-100. */
export function percent(done: number, total: number): number {
  if (total <= 0) return done > 0 ? 100 : 0;
  return Math.min(100, Math.round((done / total) * 100));
}

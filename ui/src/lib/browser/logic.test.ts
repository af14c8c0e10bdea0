import { describe, expect, it } from "vitest";
import type { EntryView } from "../bindings/EntryView";
import {
  baseName,
  breadcrumbs,
  filterEntries,
  localName,
  moveCursor,
  nearEnd,
  parentPrefix,
  percent,
  renameTarget,
  rowWindow,
  scrollToShow,
  sortEntries,
} from "./logic";

function entry(name: string, over: Partial<EntryView> = {}): EntryView {
  const folder = name.endsWith("/");
  return {
    key: `p/${name}`,
    name,
    folder,
    size: 0,
    etag: "",
    last_modified_ms: null,
    storage_class: null,
    unsafe_reason: null,
    safe_key: null,
    ...over,
  };
}

describe("breadcrumbs", () => {
  it("starts at the bucket and opens each level", () => {
    expect(breadcrumbs("b", "")).toEqual([{ label: "b", prefix: "" }]);
    expect(breadcrumbs("b", "photos/2024/")).toEqual([
      { label: "b", prefix: "" },
      { label: "photos", prefix: "photos/" },
      { label: "2024", prefix: "photos/2024/" },
    ]);
  });
  it("skips empty segments of doubled slashes", () => {
    expect(breadcrumbs("b", "a//").map((c) => c.label)).toEqual(["b", "a"]);
  });
  it("goes up one level", () => {
    expect(parentPrefix("a/b/")).toBe("a/");
    expect(parentPrefix("a/")).toBe("");
    expect(parentPrefix("")).toBe("");
  });
});

describe("sorting and filtering", () => {
  const list = [
    entry("b.txt", { size: 10, last_modified_ms: 3 }),
    entry("z/"),
    entry("a.txt", { size: 30, last_modified_ms: 1 }),
    entry("c.txt", { size: 20, last_modified_ms: 2 }),
    entry("m/"),
  ];
  it("puts folders first, then by name", () => {
    expect(sortEntries(list, "name", "asc").map((e) => e.name)).toEqual(["m/", "z/", "a.txt", "b.txt", "c.txt"]);
  });
  it("sorts by size and date, both ways", () => {
    expect(sortEntries(list, "size", "asc").map((e) => e.name).slice(2)).toEqual(["b.txt", "c.txt", "a.txt"]);
    expect(sortEntries(list, "size", "desc").map((e) => e.name).slice(2)).toEqual(["a.txt", "c.txt", "b.txt"]);
    expect(sortEntries(list, "date", "desc").map((e) => e.name).slice(2)).toEqual(["b.txt", "c.txt", "a.txt"]);
  });
  it("does not change its input", () => {
    const before = list.map((e) => e.name);
    sortEntries(list, "size", "desc");
    expect(list.map((e) => e.name)).toEqual(before);
  });
  it("filters by name, ignoring case and spaces around", () => {
    expect(filterEntries(list, " A.T ").map((e) => e.name)).toEqual(["a.txt"]);
    expect(filterEntries(list, "").length).toBe(5);
  });
});

describe("the row window", () => {
  it("renders only the rows in view plus the overscan", () => {
    const w = rowWindow(0, 340, 34, 100_000, 5);
    expect(w.start).toBe(0);
    expect(w.end).toBe(20);
    expect(w.padTop).toBe(0);
    expect(w.padBottom).toBe((100_000 - 20) * 34);
  });
  it("follows the scroll position far down", () => {
    const w = rowWindow(34 * 50_000, 340, 34, 100_000, 5);
    expect(w.start).toBe(49_995);
    expect(w.end).toBe(50_015);
    expect(w.padTop + (w.end - w.start) * 34 + w.padBottom).toBe(100_000 * 34);
  });
  it("stays inside a short list", () => {
    const w = rowWindow(5000, 340, 34, 3, 5);
    expect(w).toEqual({ start: 3, end: 3, padTop: 102, padBottom: 0 });
    expect(rowWindow(0, 340, 34, 0)).toEqual({ start: 0, end: 0, padTop: 0, padBottom: 0 });
  });
  it("asks for the next page near the end", () => {
    expect(nearEnd(rowWindow(0, 340, 34, 1000, 5), 1000)).toBe(false);
    expect(nearEnd(rowWindow(34 * 980, 340, 34, 1000, 5), 1000)).toBe(true);
  });
});

describe("names", () => {
  it("renames within the same folder, keeping a folder's slash", () => {
    expect(renameTarget(entry("a.txt"), "p/", "b.txt")).toEqual({ to: "p/b.txt" });
    expect(renameTarget(entry("z/"), "p/", "y")).toEqual({ to: "p/y/" });
  });
  it("refuses names that cannot be one segment", () => {
    expect(renameTarget(entry("a.txt"), "p/", "x/y")).toHaveProperty("error");
    expect(renameTarget(entry("a.txt"), "p/", "  ")).toHaveProperty("error");
    expect(renameTarget(entry("a.txt"), "p/", "..")).toHaveProperty("error");
    expect(renameTarget(entry("a.txt"), "p/", "a.txt")).toHaveProperty("error");
  });
  it("takes the last segment", () => {
    expect(baseName("a/b/c.txt")).toBe("c.txt");
    expect(baseName("a/b/")).toBe("b");
    expect(baseName("top")).toBe("top");
  });
  it("computes percent", () => {
    expect(percent(5, 10)).toBe(50);
    expect(percent(0, 0)).toBe(0);
    expect(percent(20, 10)).toBe(100);
  });
});

describe("localName", () => {
  it("takes the last name of a POSIX path, where a backslash is part of a name", () => {
    expect(localName("/home/me/photos/cat.jpg")).toBe("cat.jpg");
    expect(localName("/home/me/photos/")).toBe("photos");
    expect(localName("/tmp/a\\b.txt")).toBe("a\\b.txt");
  });
  it("splits a Windows path on either separator", () => {
    expect(localName("C:\\Users\\me\\cat.jpg")).toBe("cat.jpg");
    expect(localName("D:/data/notes\\")).toBe("notes");
    expect(localName("\\\\server\\share\\file.txt")).toBe("file.txt");
  });
});

describe("keyboard cursor", () => {
  it("moves by row, by page and to either end, never past them", () => {
    expect(moveCursor(0, "ArrowDown", 5, 10)).toBe(1);
    expect(moveCursor(4, "ArrowDown", 5, 10)).toBe(4);
    expect(moveCursor(0, "ArrowUp", 5, 10)).toBe(0);
    expect(moveCursor(2, "PageDown", 100, 10)).toBe(11);
    expect(moveCursor(50, "PageUp", 100, 10)).toBe(41);
    expect(moveCursor(3, "Home", 100, 10)).toBe(0);
    expect(moveCursor(3, "End", 100, 10)).toBe(99);
    expect(moveCursor(3, "Enter", 100, 10)).toBeNull();
    expect(moveCursor(0, "ArrowDown", 0, 10)).toBeNull();
  });
  it("scrolls just enough to show the cursor's row", () => {
    expect(scrollToShow(5, 0, 340, 34)).toBe(0);
    expect(scrollToShow(10, 0, 340, 34)).toBe(34);
    expect(scrollToShow(2, 340, 340, 34)).toBe(68);
  });
});

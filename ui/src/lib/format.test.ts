import { describe, expect, it } from "vitest";
import { ago, bytes, count, duration } from "./format";

describe("format", () => {
  it("sizes in binary units", () => {
    expect(bytes(0)).toBe("0 B");
    expect(bytes(1536)).toBe("1.5 KB");
    expect(bytes(50 * 1024 * 1024)).toBe("50 MB");
  });
  it("durations in plain words", () => {
    expect(duration(42)).toBe("42 s");
    expect(duration(180)).toBe("about 3 min");
    expect(duration(7500)).toBe("2 h 5 min");
  });
  it("times relative to now", () => {
    const now = 1_000_000_000;
    expect(ago(now - 10_000, now)).toBe("just now");
    expect(ago(now - 300_000, now)).toBe("5 min ago");
  });
  it("counts with the right noun", () => {
    expect(count(1, "file")).toBe("1 file");
    expect(count(2, "file")).toBe("2 files");
    expect(count(100000, "item")).toBe("100,000 items");
  });
});

import { describe as suite, expect, it } from "vitest";
import { describe, fixLabel } from "./status";

suite("pair status", () => {
  it("shows progress with files, bytes, rate and time left", () => {
    const line = describe({
      state: "transferring",
      files_done: 1,
      files_total: 4,
      bytes_done: 1024,
      bytes_total: 4096,
      rate_bps: 512,
      seconds_left: 6,
    });
    expect(line.tone).toBe("busy");
    expect(line.progress).toBe(0.25);
    expect(line.detail).toBe("1 of 4 files · 1.0 KB of 4.0 KB · 512 B/s · 6 s left");
  });

  it("says when it was last synced", () => {
    const now = 10_000_000;
    expect(describe({ state: "idle", last_sync_ms: now - 120_000 }, now).detail).toBe("Last synced 2 min ago");
  });

  it("names rejected keys and the fix", () => {
    const line = describe({
      state: "error",
      kind: "bad-credentials",
      message: "The access key was rejected",
      hint: null,
      fix: "enter-new-keys",
      retry_at_ms: null,
    });
    expect(line.label).toBe("Keys rejected");
    expect(line.tone).toBe("error");
    expect(fixLabel("enter-new-keys")).toBe("Enter new keys");
  });
});

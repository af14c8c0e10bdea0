import { describe, expect, it } from "vitest";
import { toApiError } from "./backend";

describe("toApiError", () => {
  it("keeps a typed error from Rust as is", () => {
    const e = { kind: "bad-credentials", message: "no", hint: "copy again", field: null, retryable: false };
    expect(toApiError(e)).toEqual(e);
  });

  it("turns anything else into an internal error with its message", () => {
    expect(toApiError(new Error("boom"))).toMatchObject({ kind: "internal", message: "boom" });
    expect(toApiError({ kind: "made-up", message: "x" }).kind).toBe("internal");
  });
});

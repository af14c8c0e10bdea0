import { describe, expect, it } from "vitest";
import { describeAction } from "./actions";

describe("activity words", () => {
  it("names known actions and keeps unknown ones as they are", () => {
    expect(describeAction("delete-remote")).toBe("Deleted from the bucket");
    expect(describeAction("something-new")).toBe("something-new");
  });
});

import { describe, expect, it } from "vitest";
import { emptyForm, endpointPrompt, groupProviders, stepForFailure, stepOfField, STEPS, suggestName, toDraft } from "./steps";
import type { ProviderInfo } from "../bindings/ProviderInfo";

function provider(over: Partial<ProviderInfo>): ProviderInfo {
  return {
    id: "custom",
    name: "Custom",
    endpoint_rule: "typed",
    endpoint_template: null,
    fixed_region: null,
    region_from_endpoint: false,
    default_region: "us-east-1",
    regions: [],
    path_style: true,
    access_key_label: "Access key",
    secret_label: "Secret key",
    help: [],
    public_needs_base_url: false,
    cors_api: true,
    keys_may_expire: false,
    ...over,
  };
}

describe("wizard steps", () => {
  it("tests before CORS and ends with done", () => {
    const ids = STEPS.map((s) => s.id);
    expect(ids.indexOf("test")).toBeLessThan(ids.indexOf("cors"));
    expect(ids.at(-1)).toBe("done");
  });

  it("sends the secret only when one was typed, and blank fields as null", () => {
    const f = { ...emptyForm("b2"), bucket: "Photos 2024", accessKeyId: "004abc" };
    const d = toDraft(f, "d1", null);
    expect(d.secret).toBeNull();
    expect(d.endpoint).toBeNull();
    expect(d.name).toBe("b2-photos-2024");
    expect(toDraft({ ...f, secret: "s3cr3t" }, "d1", null).secret).toBe("s3cr3t");
    expect(suggestName(emptyForm("r2"))).toBe("r2");
  });

  it("sends a field error to the step that holds the field", () => {
    expect(stepOfField("endpoint")).toBe("connection");
    expect(stepOfField("secret")).toBe("access");
    expect(stepOfField("something-else")).toBeNull();
  });

  it("sends rejected keys back to the access step, the rest to the connection", () => {
    expect(stepForFailure("bad-credentials")).toBe("access");
    expect(stepForFailure("no-such-bucket")).toBe("connection");
  });

  it("asks B2 users for the endpoint and reads the region from it", () => {
    const b2 = provider({ id: "b2", endpoint_rule: "from-region", region_from_endpoint: true });
    expect(endpointPrompt(b2)).toMatch(/region is read from it/);
  });

  it("accepts an R2 account id alone", () => {
    expect(endpointPrompt(provider({ endpoint_rule: "from-account-id" }))).toMatch(/account id/);
  });

  it("puts self-hosted servers after hosted clouds", () => {
    const { hosted, selfHosted } = groupProviders([
      provider({ id: "garage" }),
      provider({ id: "r2" }),
      provider({ id: "custom" }),
    ]);
    expect(hosted.map((p) => p.id)).toEqual(["r2"]);
    expect(selfHosted.map((p) => p.id)).toEqual(["garage", "custom"]);
  });
});

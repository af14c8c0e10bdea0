import { describe, expect, it } from "vitest";
import { endpointPrompt, groupProviders, STEPS } from "./steps";
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
    ...over,
  };
}

describe("wizard steps", () => {
  it("ends with the connection test", () => {
    expect(STEPS.at(-1)?.id).toBe("test");
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

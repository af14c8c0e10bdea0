// The setup wizard's steps and the pure rules that move between them.
import type { ProviderInfo } from "../bindings/ProviderInfo";

export const STEPS = [
  { id: "provider", title: "Provider" },
  { id: "connection", title: "Endpoint & region" },
  { id: "bucket", title: "Bucket & access" },
  { id: "keys", title: "Access keys" },
  { id: "test", title: "Test & CORS" },
] as const;

export type StepId = (typeof STEPS)[number]["id"];

/** What the endpoint field asks for, in the provider's own terms. */
export function endpointPrompt(p: ProviderInfo): string {
  switch (p.endpoint_rule) {
    case "aws":
      return "No endpoint needed: Amazon's own is used for the region.";
    case "from-account-id":
      return "Paste the S3 endpoint or just your account id.";
    case "from-region":
      return p.region_from_endpoint
        ? "Paste the bucket's endpoint; the region is read from it."
        : "Pick the region; the endpoint is built from it.";
    default:
      return "Enter your server's S3 address.";
  }
}

/** Groups providers for the first step: hosted clouds first, then self-hosted. */
export function groupProviders(all: ProviderInfo[]): { hosted: ProviderInfo[]; selfHosted: ProviderInfo[] } {
  const selfHostedIds = new Set(["minio", "garage", "custom"]);
  return {
    hosted: all.filter((p) => !selfHostedIds.has(p.id)),
    selfHosted: all.filter((p) => selfHostedIds.has(p.id)),
  };
}

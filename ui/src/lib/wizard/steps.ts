// The setup wizard's steps and the pure rules that move between them. The
// field rules themselves (normalisation, presets) live in Rust: the wizard
// sends what was typed to `check_policy` and shows what comes back.
import type { ErrorKind } from "../bindings/ErrorKind";
import type { PolicyDraft } from "../bindings/PolicyDraft";
import type { PolicyView } from "../bindings/PolicyView";
import type { ProviderInfo } from "../bindings/ProviderInfo";

export const STEPS = [
  { id: "provider", title: "Provider" },
  { id: "connection", title: "Connection" },
  { id: "access", title: "Access" },
  { id: "test", title: "Test" },
  { id: "cors", title: "CORS" },
  { id: "done", title: "Done" },
] as const;

export type StepId = (typeof STEPS)[number]["id"];

/** What the user typed, kept while moving back and forth. */
export interface Form {
  provider: string;
  name: string;
  endpoint: string;
  region: string;
  accountId: string;
  /** "" = the provider's default. */
  addressing: "" | "path-style" | "virtual-host";
  bucket: string;
  public: boolean;
  cdnUrl: string;
  accessKeyId: string;
  /** Cleared once sent: Rust keeps it for the draft. */
  secret: string;
  keysExpireOn: string;
}

export function emptyForm(provider = ""): Form {
  return {
    provider,
    name: "",
    endpoint: "",
    region: "",
    accountId: "",
    addressing: "",
    bucket: "",
    public: false,
    cdnUrl: "",
    accessKeyId: "",
    secret: "",
    keysExpireOn: "",
  };
}

/** A stored policy as a form, for "Enter new keys" and editing. */
export function formOf(p: PolicyView): Form {
  return {
    provider: p.provider,
    name: p.name,
    endpoint: p.endpoint ?? "",
    region: p.region,
    accountId: p.account_id ?? "",
    addressing: p.addressing === "path-style" || p.addressing === "virtual-host" ? p.addressing : "",
    bucket: p.bucket,
    public: p.public,
    cdnUrl: p.cdn_url ?? "",
    accessKeyId: p.access_key_id,
    secret: "",
    keysExpireOn: p.keys_expire_on ?? "",
  };
}

const blank = (v: string): string | null => (v.trim() === "" ? null : v);

/** The request Rust checks, tests and saves. The secret goes only when typed. */
export function toDraft(f: Form, draftId: string | null, editing: string | null): PolicyDraft {
  return {
    draft_id: draftId,
    editing,
    name: f.name.trim() || suggestName(f),
    provider: f.provider,
    bucket: f.bucket,
    endpoint: blank(f.endpoint),
    region: blank(f.region),
    account_id: blank(f.accountId),
    addressing: f.addressing === "" ? null : f.addressing,
    public: f.public,
    cdn_url: blank(f.cdnUrl),
    access_key_id: f.accessKeyId,
    secret: blank(f.secret),
    keys_expire_on: blank(f.keysExpireOn),
  };
}

/** A default policy name: provider and bucket ("b2-photos"). */
export function suggestName(f: Form): string {
  const bucket = f.bucket.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, "-");
  return bucket ? `${f.provider}-${bucket}`.slice(0, 64) : f.provider;
}

/** The step that holds a field Rust named in an error. */
export function stepOfField(field: string | null): StepId | null {
  switch (field) {
    case "provider":
      return "provider";
    case "endpoint":
    case "region":
    case "account-id":
    case "addressing":
    case "bucket":
    case "name":
      return "connection";
    case "cdn-url":
    case "public":
    case "access-key-id":
    case "secret":
    case "keys-expire-on":
      return "access";
    default:
      return null;
  }
}

/** Where to go to fix a failed connection test. */
export function stepForFailure(kind: ErrorKind | null): StepId {
  switch (kind) {
    case "bad-credentials":
    case "expired-credentials":
    case "permission-denied":
      return "access";
    default:
      return "connection";
  }
}

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

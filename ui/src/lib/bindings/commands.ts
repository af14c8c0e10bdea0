// Generated from crates/api/src/command.rs by `cargo test -p bucketsync-api`. Do not edit.
import { invoke } from "@tauri-apps/api/core";
import type { ActivityQuery } from "./ActivityQuery";
import type { ActivityView } from "./ActivityView";
import type { AddPairRequest } from "./AddPairRequest";
import type { ApiError } from "./ApiError";
import type { AppSettings } from "./AppSettings";
import type { ConditionalWrites } from "./ConditionalWrites";
import type { CorsResult } from "./CorsResult";
import type { Dashboard } from "./Dashboard";
import type { DeletePreview } from "./DeletePreview";
import type { DeleteReport } from "./DeleteReport";
import type { DeleteRequest } from "./DeleteRequest";
import type { DownloadRequest } from "./DownloadRequest";
import type { DraftCheck } from "./DraftCheck";
import type { DraftTest } from "./DraftTest";
import type { EngineView } from "./EngineView";
import type { LinkRequest } from "./LinkRequest";
import type { LinkView } from "./LinkView";
import type { ListPageView } from "./ListPageView";
import type { ListRequest } from "./ListRequest";
import type { ObjectDetailsView } from "./ObjectDetailsView";
import type { ObjectPreview } from "./ObjectPreview";
import type { Overview } from "./Overview";
import type { PairView } from "./PairView";
import type { PolicyDraft } from "./PolicyDraft";
import type { PolicySaved } from "./PolicySaved";
import type { PolicyView } from "./PolicyView";
import type { PreviewView } from "./PreviewView";
import type { ProviderInfo } from "./ProviderInfo";
import type { RenameReport } from "./RenameReport";
import type { RenameRequest } from "./RenameRequest";
import type { TransferReport } from "./TransferReport";
import type { UpdatePairRequest } from "./UpdatePairRequest";
import type { UploadRequest } from "./UploadRequest";

/** Every command rejects with an ApiError. */
export type CommandError = ApiError;

/** The state the first screen shows. */
export function overview(): Promise<Overview> {
  return invoke("overview");
}

/** The providers the setup wizard offers. */
export function providers(): Promise<Array<ProviderInfo>> {
  return invoke("providers");
}

/** Whether this window runs the sync engine, or who does. */
export function engineState(): Promise<EngineView> {
  return invoke("engine_state");
}

/** Tries to start the engine again (after another one quit). */
export function retryEngine(): Promise<EngineView> {
  return invoke("retry_engine");
}

export function listPolicies(): Promise<Array<PolicyView>> {
  return invoke("list_policies");
}

/** The wizard's fields checked with the provider's rules, as typed. */
export function checkPolicy(draft: PolicyDraft): Promise<DraftCheck> {
  return invoke("check_policy", { draft });
}

/** Tests the draft against the bucket; nothing is saved. */
export function testPolicy(draft: PolicyDraft): Promise<DraftTest> {
  return invoke("test_policy", { draft });
}

/** Saves the draft after a passing test (or `anyway`). */
export function savePolicy(draft: PolicyDraft, anyway: boolean): Promise<PolicySaved> {
  return invoke("save_policy", { draft, anyway });
}

/** Forgets an abandoned draft and the secret held for it. */
export function discardDraft(draftId: string): Promise<null> {
  return invoke("discard_draft", { draftId });
}

export function removePolicy(name: string): Promise<null> {
  return invoke("remove_policy", { name });
}

/** Creates or extends the bucket's CORS rule with these origins. */
export function applyCors(name: string, origins: Array<string>): Promise<CorsResult> {
  return invoke("apply_cors", { name, origins });
}

/** Every pair with its live state and issues, and the engine. */
export function dashboard(): Promise<Dashboard> {
  return invoke("dashboard");
}

export function addPair(req: AddPairRequest): Promise<PairView> {
  return invoke("add_pair", { req });
}

/** What a full pass of the pair would do; changes nothing. */
export function previewPair(name: string): Promise<PreviewView> {
  return invoke("preview_pair", { name });
}

/** Folder names under `prefix` in the policy's bucket, for the prefix picker. */
export function bucketFolders(policy: string, prefix: string): Promise<Array<string>> {
  return invoke("bucket_folders", { policy, prefix });
}

export function updatePair(req: UpdatePairRequest): Promise<PairView> {
  return invoke("update_pair", { req });
}

/** Removes the pair; files on both sides stay. */
export function removePair(name: string): Promise<null> {
  return invoke("remove_pair", { name });
}

export function syncNow(name: string): Promise<null> {
  return invoke("sync_now", { name });
}

export function pausePair(name: string): Promise<PairView> {
  return invoke("pause_pair", { name });
}

export function resumePair(name: string): Promise<PairView> {
  return invoke("resume_pair", { name });
}

export function pauseAll(): Promise<null> {
  return invoke("pause_all");
}

export function resumeAll(): Promise<null> {
  return invoke("resume_all");
}

/** Goes ahead with the deletes of the list shown (its id); refused with a `stale` error when another list waits by now. */
export function confirmDeletes(name: string, set: string): Promise<null> {
  return invoke("confirm_deletes", { name, set });
}

/** Refuses the deletes of the list shown (its id): the files are kept (restored); refused with a `stale` error when another list waits. */
export function keepFiles(name: string, set: string): Promise<null> {
  return invoke("keep_files", { name, set });
}

/** The journal, newest first. */
export function activity(query: ActivityQuery): Promise<Array<ActivityView>> {
  return invoke("activity", { query });
}

export function settings(): Promise<AppSettings> {
  return invoke("settings");
}

export function saveSettings(settings: AppSettings): Promise<AppSettings> {
  return invoke("save_settings", { settings });
}

/** One page of a folder; pass `continuation` back for the next. */
export function browseList(req: ListRequest): Promise<ListPageView> {
  return invoke("browse_list", { req });
}

/** Everything a HEAD tells about one object. */
export function browseStat(policy: string, key: string): Promise<ObjectDetailsView> {
  return invoke("browse_stat", { policy, key });
}

/** Creates an empty folder (a zero-byte `name/` key); returns its key. */
export function browseNewFolder(policy: string, key: string): Promise<string> {
  return invoke("browse_new_folder", { policy, key });
}

/** What a delete would remove, for the question asked first. */
export function browseDeletePreview(req: DeleteRequest): Promise<DeletePreview> {
  return invoke("browse_delete_preview", { req });
}

export function browseDelete(req: DeleteRequest): Promise<DeleteReport> {
  return invoke("browse_delete", { req });
}

/** Renames (moves) an object or a whole prefix. */
export function browseRename(req: RenameRequest): Promise<RenameReport> {
  return invoke("browse_rename", { req });
}

/** A public URL, or a presigned one with the chosen expiry. */
export function browseLink(req: LinkRequest): Promise<LinkView> {
  return invoke("browse_link", { req });
}

/** The beginning of an image or text object, fetched by Rust. */
export function browsePreview(policy: string, key: string): Promise<ObjectPreview> {
  return invoke("browse_preview", { policy, key });
}

/** Uploads local files and folders; progress comes as `transfer` events. */
export function browseUpload(req: UploadRequest): Promise<TransferReport> {
  return invoke("browse_upload", { req });
}

/** Downloads objects and prefixes into a local folder; progress as `transfer` events. */
export function browseDownload(req: DownloadRequest): Promise<TransferReport> {
  return invoke("browse_download", { req });
}

/** Cancels a running upload or download; false when none has this id. */
export function cancelTransfer(id: string): Promise<boolean> {
  return invoke("cancel_transfer", { id });
}

// Journal actions in plain words.
const WORDS: Record<string, string> = {
  upload: "Uploaded",
  download: "Downloaded",
  "delete-local": "Deleted here (to the trash)",
  "delete-remote": "Deleted from the bucket",
  conflict: "Conflict: kept both",
  adopt: "Already in sync",
  error: "Failed",
};

export function describeAction(action: string): string {
  return WORDS[action] ?? action;
}

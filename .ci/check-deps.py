#!/usr/bin/env python3
"""Checks the dependency direction of ARCHITECTURE.md against `cargo metadata`.

desktop -> api -> engine -> {remote, store}; cli -> api. Only remote uses
aws-sdk-s3, only store rusqlite, only engine notify, only the desktop tauri.
Prints each violation and exits 1 if there is any.
"""
import json
import subprocess
import sys

meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--locked", "--no-deps"]))
ours = {p["name"]: p for p in meta["packages"]}

# Which of our crates each crate may depend on (normal and build deps).
ALLOWED_INTERNAL = {
    "bucketsync-remote": set(),
    "bucketsync-store": set(),
    "bucketsync-engine": {"bucketsync-remote", "bucketsync-store"},
    "bucketsync-api": {"bucketsync-engine", "bucketsync-remote", "bucketsync-store"},
    "bucketsync-cli": {"bucketsync-api"},
    "bucketsync-desktop": {"bucketsync-api"},
    "bucketsync-testserver": set(),
    # the benchmark drives the CLI as a process and reads the bucket directly;
    # browse_list measures the api's paged listing in-process
    "bucketsync-bench": {"bucketsync-api", "bucketsync-remote", "bucketsync-testserver"},
}
# External crates reserved to one of ours.
EXCLUSIVE = {
    "aws-sdk-s3": "bucketsync-remote",
    "aws-config": "bucketsync-remote",
    "aws-smithy-runtime": "bucketsync-remote",
    "aws-smithy-runtime-api": "bucketsync-remote",
    "rusqlite": "bucketsync-store",
    "notify": "bucketsync-engine",
    "notify-debouncer-full": "bucketsync-engine",
    "tauri": "bucketsync-desktop",
    "tauri-build": "bucketsync-desktop",
}

errors = []
for name, pkg in ours.items():
    if name not in ALLOWED_INTERNAL:
        errors.append(f"{name}: unknown crate, add it to .ci/check-deps.py and ARCHITECTURE.md")
        continue
    for dep in pkg["dependencies"]:
        d, kind = dep["name"], dep["kind"]  # kind: None (normal), "dev", "build"
        if d in ours and kind != "dev" and d not in ALLOWED_INTERNAL[name]:
            errors.append(f"{name} must not depend on {d}")
        owner = EXCLUSIVE.get(d)
        if owner and owner != name and kind != "dev":
            errors.append(f"{name} must not depend on {d} (only {owner} may)")

for e in errors:
    print("dependency direction:", e, file=sys.stderr)
sys.exit(1 if errors else 0)

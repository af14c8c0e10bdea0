# Sourced by scripts/test, scripts/dev, scripts/package and .ci/run.
#
# One cargo selection for everything: the core's tests, the CLI, the bench
# runner and the desktop app. Cargo resolves features per selection, so
# building the app alone (`-p bucketsync-desktop`) after the tests would
# compile most dependencies a second time with the app's features (serde,
# proc-macro2, url, ...); with one selection each compiles once.
#
# `bucketsync-cli/fail-points` compiles in the crash points of the fault
# suite (crates/cli/tests/crash.rs); scripts/package's release build leaves
# them out.
CARGO_SELECTION=(--workspace --all-targets --locked --features bucketsync-desktop/custom-protocol,bucketsync-cli/fail-points)

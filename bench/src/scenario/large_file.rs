//! Scenarios 1 and 5: one large file up into a fresh prefix, then down into
//! an empty folder. Scenario 5 is the same at more sizes, for peak RSS and
//! client CPU.

use super::transfer::{up_and_down, Payload};
use super::{size_name, Bench, Scenario};
use crate::fixture;
use crate::report::Row;
use anyhow::Result;

pub struct LargeFile;

impl Scenario for LargeFile {
    fn name(&self) -> &'static str {
        "large"
    }

    fn run(&self, b: &Bench) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        let sizes = std::iter::once((b.scale.large, "1")).chain(b.scale.large_more.iter().map(|s| (*s, "5")));
        for (size, label) in sizes {
            let payload = Payload {
                files: 1,
                size,
                make: &|dir, seed| fixture::random_file(&dir.join("file.bin"), size, seed),
                restamp: &|dir, run| fixture::restamp(&dir.join("file.bin"), run),
            };
            rows.extend(up_and_down(b, label, &size_name(size), &payload)?);
        }
        Ok(rows)
    }
}

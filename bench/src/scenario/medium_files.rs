//! Scenario 5, mid-size files: 32 x 15 MiB by default, just under the
//! multipart threshold, up into a fresh prefix and then down. Such files go
//! up in one PUT each, read into memory, so with many transfers in flight
//! this is where the client's peak RSS would grow with the transfer limit.

use super::transfer::{up_and_down, Payload};
use super::{count_name, size_name, Bench, Scenario};
use crate::fixture;
use crate::report::Row;
use anyhow::Result;

pub struct MediumFiles;

impl Scenario for MediumFiles {
    fn name(&self) -> &'static str {
        "medium"
    }

    fn run(&self, b: &Bench) -> Result<Vec<Row>> {
        let (count, size) = (b.scale.medium_count, b.scale.medium_size);
        let payload = Payload {
            files: count,
            size,
            make: &|dir, seed| fixture::tree(dir, count, size, seed),
            restamp: &|dir, run| fixture::restamp_tree(dir, count, run),
        };
        up_and_down(b, "5", &format!("{} x {}", count_name(count), size_name(size)), &payload)
    }
}

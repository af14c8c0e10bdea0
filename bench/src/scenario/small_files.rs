//! Scenario 2: many small files (1,000 x 64 KiB by default) up into a fresh
//! prefix, then down into an empty folder: latency-bound, so it shows how
//! many requests a client keeps in flight.

use super::transfer::{up_and_down, Payload};
use super::{count_name, size_name, Bench, Scenario};
use crate::fixture;
use crate::report::Row;
use anyhow::Result;

pub struct SmallFiles;

impl Scenario for SmallFiles {
    fn name(&self) -> &'static str {
        "small"
    }

    fn run(&self, b: &Bench) -> Result<Vec<Row>> {
        let (count, size) = (b.scale.small_count, b.scale.small_size);
        let payload = Payload {
            files: count,
            size,
            make: &|dir, seed| fixture::tree(dir, count, size, seed),
            restamp: &|dir, run| fixture::restamp_tree(dir, count, run),
        };
        up_and_down(b, "2", &format!("{} x {}", count_name(count), size_name(size)), &payload)
    }
}

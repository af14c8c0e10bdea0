//! Scenario 3: a pass where nothing changed, over 1,000 / 10,000 / 100,000
//! files of 1 KiB (folders of 1,000), two-way, against `s5cmd sync`,
//! `rclone sync` and `rclone bisync`. Ours should send one LIST per 1,000
//! keys and nothing else. The first sync that sets it up is reported too.

use super::{alternate, count_name, ours_sync, run_id, Bench, Contender, Scenario};
use crate::fixture;
use crate::report::{Measured, Row, OURS};
use anyhow::Result;

pub struct Noop;

const FILE_SIZE: u64 = 1024;

impl Scenario for Noop {
    fn name(&self) -> &'static str {
        "noop"
    }

    fn run(&self, b: &Bench) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        for n in b.scale.noop_counts.clone() {
            rows.extend(one_count(b, n)?);
        }
        Ok(rows)
    }
}

fn one_count(b: &Bench, n: usize) -> Result<Vec<Row>> {
    let t = &b.tools;
    let case = run_id();
    let tag = format!("noop-{case}");
    let dir = b.data.join(&tag);
    fixture::fresh_dir(&dir)?;
    b.say(format!("no-op {n}: writing {n} files"));
    fixture::tree(&dir, n, FILE_SIZE, case)?;
    let home = t.ours_home(&tag)?;
    let prefix = format!("{tag}/");
    t.ours_pair(&home, "tree", &dir, &prefix, "two-way")?;

    b.say(format!("no-op {n}: first sync"));
    let mut first = Row::new("3", format!("first sync, {} x 1 KiB up (one run)", count_name(n)));
    first.bytes = Some(n as u64 * FILE_SIZE);
    first.note = Some(format!("load {:.1}", crate::machine::load()));
    let (sample, requests) = ours_sync(b, &home, "tree", n, &[])?;
    first.push(OURS, Measured::Runs { samples: vec![sample], requests: requests.into_iter().collect() });
    b.expect_remote(&prefix, n as u64, n as u64 * FILE_SIZE)?;

    let bisync_dir = t.scratch.join(format!("bisync-{case}"));
    let dir_s = dir.to_string_lossy().into_owned();
    let dir_slash = format!("{dir_s}/");
    let remote_path = t.rclone_path(&prefix);
    let bisync_s = bisync_dir.to_string_lossy().into_owned();
    if t.rclone.is_some() {
        b.say(format!("no-op {n}: rclone bisync --resync"));
        t.measure_peer(
            "rclone-resync",
            &mut t.rclone(&["bisync", &dir_s, &remote_path, "--resync", "--workdir", &bisync_s]).unwrap(),
        )?;
    }

    let mut row = Row::new("3", format!("no-op pass, {} files", count_name(n)));
    row.versus = Some("rclone bisync".into());
    row.note = Some(format!("load {:.1}", crate::machine::load()));
    let none = |_| Ok(());
    let mut contenders = vec![Contender::new(OURS, none, |_| ours_sync(b, &home, "tree", 0, &[]), none)];
    if t.s5cmd.is_some() {
        let url = t.s3_url(&prefix);
        contenders.push(Contender::new(
            "s5cmd sync",
            none,
            move |_| Ok((t.measure_peer("s5cmd", &mut t.s5cmd(&["sync", &dir_slash, &url]).unwrap())?, None)),
            none,
        ));
    }
    if t.rclone.is_some() {
        contenders.push(Contender::new(
            "rclone sync",
            none,
            |_| {
                Ok((t.measure_peer("rclone", &mut t.rclone(&["sync", &dir_s, &remote_path]).unwrap())?, None))
            },
            none,
        ));
        contenders.push(Contender::new(
            "rclone bisync",
            none,
            |_| {
                let cmd = &mut t.rclone(&["bisync", &dir_s, &remote_path, "--workdir", &bisync_s]).unwrap();
                Ok((t.measure_peer("rclone", cmd)?, None))
            },
            none,
        ));
    }
    alternate(b, &mut row, contenders);

    // Nobody may have changed anything.
    b.expect_remote(&prefix, n as u64, n as u64 * FILE_SIZE)?;
    anyhow::ensure!(fixture::tally(&dir)? == (n as u64, n as u64 * FILE_SIZE), "the local tree changed");
    b.delete_remote(&prefix)?;
    std::fs::remove_dir_all(&dir)?;
    Ok(vec![first, row])
}

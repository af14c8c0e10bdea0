//! The bandwidth limit: one file up and down with `--limit-up` /
//! `--limit-down` set below what the link does unlimited; the achieved rate
//! should be within 5 % of the limit. `rclone --bwlimit` runs alongside for
//! comparison (s5cmd has no limit).

use super::{alternate, ours_sync, run_id, size_name, Bench, Contender, Scenario};
use crate::fixture;
use crate::report::{Measured, Row, OURS};
use anyhow::Result;

pub struct BandwidthLimit;

impl Scenario for BandwidthLimit {
    fn name(&self) -> &'static str {
        "bwlimit"
    }

    fn run(&self, b: &Bench) -> Result<Vec<Row>> {
        let (size, mib_s) = (b.scale.bwlimit_size, b.scale.bwlimit_mib_s);
        let rate = mib_s * 1024 * 1024;
        let t = &b.tools;
        let case = run_id();
        let tag = format!("bwlimit-{case}");
        let src = b.data.join(&tag).join("src");
        fixture::fresh_dir(&src)?;
        let file = src.join("file.bin");
        fixture::random_file(&file, size, case)?;
        let home = t.ours_home(&tag)?;
        let limit = format!("{mib_s}MiB");
        let rclone_limit = format!("{mib_s}M"); // rclone's M is MiB
        let prefix = |tool: &str, rep: usize| format!("{tag}/up-{tool}-{rep}/");
        let check_up = |p: String| -> Result<()> {
            b.expect_remote(&p, 1, size)?;
            b.delete_remote(&p)
        };
        let what = format!("{} at most {mib_s} MiB/s", size_name(size));

        let mut up = Row::new("bw", format!("{what} up"));
        up.bytes = Some(size);
        let src_s = src.to_string_lossy().into_owned();
        let mut contenders = vec![Contender::new(
            OURS,
            |rep| {
                fixture::restamp(&file, run_id())?;
                t.ours_pair(&home, &format!("up{rep}"), &src, &prefix("ours", rep), "upload")
            },
            |rep| ours_sync(b, &home, &format!("up{rep}"), 1, &["--limit-up", &limit]),
            |rep| {
                check_up(prefix("ours", rep))?;
                t.ours_setup(&home, &["pair", "remove", &format!("up{rep}")]).map(drop)
            },
        )];
        if t.rclone.is_some() {
            contenders.push(Contender::new(
                "rclone copy --bwlimit",
                |_| fixture::restamp(&file, run_id()),
                |rep| {
                    let dest = t.rclone_path(&prefix("rclone", rep));
                    let cmd = &mut t.rclone(&["copy", "--bwlimit", &rclone_limit, &src_s, &dest]).unwrap();
                    Ok((t.measure_peer("rclone", cmd)?, None))
                },
                |rep| check_up(prefix("rclone", rep)),
            ));
        }
        alternate(b, &mut up, contenders);

        let data = format!("{tag}/data/");
        t.ours_pair(&home, "seed", &src, &data, "upload")?;
        ours_sync(b, &home, "seed", 1, &[])?;
        t.ours_setup(&home, &["pair", "remove", "seed"])?;
        let dest = b.data.join(&tag).join("dest");
        let check_down = || -> Result<()> {
            let got = fixture::tally(&dest)?;
            anyhow::ensure!(got == (1, size), "expected one file of {size} B, found {got:?}");
            Ok(())
        };
        let mut down = Row::new("bw", format!("{what} down"));
        down.bytes = Some(size);
        let mut contenders = vec![Contender::new(
            OURS,
            |rep| {
                fixture::fresh_dir(&dest)?;
                t.ours_pair(&home, &format!("down{rep}"), &dest, &data, "download")
            },
            |rep| ours_sync(b, &home, &format!("down{rep}"), 1, &["--limit-down", &limit]),
            |rep| {
                check_down()?;
                t.ours_setup(&home, &["pair", "remove", &format!("down{rep}")]).map(drop)
            },
        )];
        if t.rclone.is_some() {
            let (from, to) = (t.rclone_path(&data), dest.to_string_lossy().into_owned());
            contenders.push(Contender::new(
                "rclone copy --bwlimit",
                |_| fixture::fresh_dir(&dest),
                move |_| {
                    let cmd = &mut t.rclone(&["copy", "--bwlimit", &rclone_limit, &from, &to]).unwrap();
                    Ok((t.measure_peer("rclone", cmd)?, None))
                },
                |_| check_down(),
            ));
        }
        alternate(b, &mut down, contenders);

        for row in [&mut up, &mut down] {
            row.note = Some(deviation(row, size, rate));
        }
        b.delete_remote(&format!("{tag}/"))?;
        std::fs::remove_dir_all(b.data.join(&tag))?;
        Ok(vec![up, down])
    }
}

/// "ours 2.1 % under the limit": how far ours' median rate is from `rate`.
fn deviation(row: &Row, size: u64, rate: u64) -> String {
    let ours = row.results.iter().find(|r| r.tool == OURS).map(|r| &r.measured);
    let Some(Measured::Runs { samples, .. }) = ours else { return "no runs".into() };
    let walls: Vec<f64> = samples.iter().map(|s| s.wall.as_secs_f64()).collect();
    let Some(stats) = crate::report::Stats::of(&walls) else { return "no runs".into() };
    let achieved = size as f64 / stats.median;
    let off = (achieved / rate as f64 - 1.0) * 100.0;
    format!("limit {:.1} MB/s; ours {:.1} MB/s, {:+.1} %", rate as f64 / 1e6, achieved / 1e6, off)
}

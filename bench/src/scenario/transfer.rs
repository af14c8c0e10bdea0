//! What scenarios 1, 2 and 5 share: a folder of files up into a fresh
//! prefix, then down into an empty folder, by every tool in turn.

use super::{alternate, ours_sync, run_id, Bench, Contender};
use crate::fixture;
use crate::report::{Row, OURS};
use anyhow::Result;
use std::path::Path;

/// s5cmd with a wide part and file concurrency: our proxy for the server's ceiling.
pub const S5CMD_WIDE: &str = "16";

/// A folder of `files` files, `size` bytes each, made by `make` in `src`,
/// then made unique before every upload by `restamp(src, run)`.
pub struct Payload<'a> {
    pub files: usize,
    pub size: u64,
    pub make: &'a dyn Fn(&Path, u64) -> Result<()>,
    pub restamp: &'a dyn Fn(&Path, u64) -> Result<()>,
}

/// Two rows: `{name} up` and `{name} down`.
pub fn up_and_down(b: &Bench, label: &str, name: &str, payload: &Payload<'_>) -> Result<Vec<Row>> {
    let (files, size) = (payload.files as u64, payload.files as u64 * payload.size);
    let case = run_id();
    let tag = format!("transfer-{case}");
    let src = b.data.join(&tag).join("src");
    fixture::fresh_dir(&src)?;
    b.say(format!("{name}: writing the files"));
    (payload.make)(&src, case)?;
    let home = b.tools.ours_home(&tag)?;
    let src_glob = format!("{}/*", src.to_string_lossy());
    let src_s = src.to_string_lossy().into_owned();
    let t = &b.tools;
    let prefix = |tool: &str, rep: usize| format!("{tag}/up-{tool}-{rep}/");
    let check_up = |p: String| -> Result<()> {
        b.expect_remote(&p, files, size)?;
        b.delete_remote(&p)
    };

    let mut up = Row::new(label, format!("{name} up"));
    up.bytes = Some(size);
    up.note = Some(format!("load {:.1}", crate::machine::load()));
    let mut contenders = vec![Contender::new(
        OURS,
        |rep| {
            (payload.restamp)(&src, run_id())?;
            t.ours_pair(&home, &format!("up{rep}"), &src, &prefix("ours", rep), "upload")
        },
        |rep| ours_sync(b, &home, &format!("up{rep}"), payload.files, &[]),
        |rep| {
            check_up(prefix("ours", rep))?;
            t.ours_setup(&home, &["pair", "remove", &format!("up{rep}")]).map(drop)
        },
    )];
    if t.s5cmd.is_some() {
        contenders.push(Contender::new(
            "s5cmd cp",
            |_| (payload.restamp)(&src, run_id()),
            |rep| {
                Ok((
                    t.measure_peer(
                        "s5cmd",
                        &mut t.s5cmd(&["cp", &src_glob, &t.s3_url(&prefix("s5", rep))]).unwrap(),
                    )?,
                    None,
                ))
            },
            |rep| check_up(prefix("s5", rep)),
        ));
        contenders.push(Contender::new(
            format!("s5cmd cp --concurrency {S5CMD_WIDE}"),
            |_| (payload.restamp)(&src, run_id()),
            |rep| {
                let url = t.s3_url(&prefix("s5w", rep));
                Ok((
                    t.measure_peer(
                        "s5cmd",
                        &mut t.s5cmd(&["cp", "--concurrency", S5CMD_WIDE, &src_glob, &url]).unwrap(),
                    )?,
                    None,
                ))
            },
            |rep| check_up(prefix("s5w", rep)),
        ));
    }
    if t.rclone.is_some() {
        contenders.push(Contender::new(
            "rclone copy",
            |_| (payload.restamp)(&src, run_id()),
            |rep| {
                let dest = t.rclone_path(&prefix("rclone", rep));
                Ok((t.measure_peer("rclone", &mut t.rclone(&["copy", &src_s, &dest]).unwrap())?, None))
            },
            |rep| check_up(prefix("rclone", rep)),
        ));
    }
    alternate(b, &mut up, contenders);

    // Downloads all read one object, uploaded once by us.
    let data = format!("{tag}/data/");
    t.ours_pair(&home, "seed", &src, &data, "upload")?;
    ours_sync(b, &home, "seed", payload.files, &[])?;
    t.ours_setup(&home, &["pair", "remove", "seed"])?;
    let dest = b.data.join(&tag).join("dest");
    let dest_s = format!("{}/", dest.to_string_lossy());
    let check_down = |dir: &Path| -> Result<()> {
        let got = fixture::tally(dir)?;
        anyhow::ensure!(got == (files, size), "expected {files} files of {size} B in all, found {got:?}");
        Ok(())
    };

    let mut down = Row::new(label, format!("{name} down"));
    down.bytes = Some(size);
    down.note = Some(format!("load {:.1}", crate::machine::load()));
    let mut contenders = vec![Contender::new(
        OURS,
        |rep| {
            fixture::fresh_dir(&dest)?;
            t.ours_pair(&home, &format!("down{rep}"), &dest, &data, "download")
        },
        |rep| ours_sync(b, &home, &format!("down{rep}"), payload.files, &[]),
        |rep| {
            check_down(&dest)?;
            t.ours_setup(&home, &["pair", "remove", &format!("down{rep}")]).map(drop)
        },
    )];
    if t.s5cmd.is_some() {
        let url = format!("{}*", t.s3_url(&data));
        let (url, url2) = (url.clone(), url);
        contenders.push(Contender::new(
            "s5cmd cp",
            |_| fixture::fresh_dir(&dest),
            move |_| Ok((t.measure_peer("s5cmd", &mut t.s5cmd(&["cp", &url, &dest_s]).unwrap())?, None)),
            |_| check_down(&dest),
        ));
        let dest_s = format!("{}/", dest.to_string_lossy());
        contenders.push(Contender::new(
            format!("s5cmd cp --concurrency {S5CMD_WIDE}"),
            |_| fixture::fresh_dir(&dest),
            move |_| {
                Ok((
                    t.measure_peer(
                        "s5cmd",
                        &mut t.s5cmd(&["cp", "--concurrency", S5CMD_WIDE, &url2, &dest_s]).unwrap(),
                    )?,
                    None,
                ))
            },
            |_| check_down(&dest),
        ));
    }
    if t.rclone.is_some() {
        let from = t.rclone_path(&data);
        let to = dest.to_string_lossy().into_owned();
        contenders.push(Contender::new(
            "rclone copy",
            |_| fixture::fresh_dir(&dest),
            move |_| Ok((t.measure_peer("rclone", &mut t.rclone(&["copy", &from, &to]).unwrap())?, None)),
            |_| check_down(&dest),
        ));
    }
    alternate(b, &mut down, contenders);

    b.delete_remote(&format!("{tag}/"))?;
    std::fs::remove_dir_all(b.data.join(&tag))?;
    Ok(vec![up, down])
}

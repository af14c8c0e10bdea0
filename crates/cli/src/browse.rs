//! The bucket browser's verbs: `ls`, `cp`, `mv`, `rm`, `url`, `stat`.
//! Each parses its targets, calls the api, and prints.

use crate::output::{print_error_line, print_json};
use bucketsync_api::browse::transfer::{
    DownloadRequest, TransferEvent, TransferReport, TransferSink, UploadRequest,
};
use bucketsync_api::browse::{
    parse_duration, DeleteRequest, FollowUpView, LinkRequest, ListRequest, RenameRequest,
};
use bucketsync_api::{Api, ApiError};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// `POLICY:KEY` (or `POLICY` alone) when POLICY names a stored policy;
/// anything else is a local path (write `./a:b` for a local name with a colon).
pub fn remote_target(api: &Api, text: &str) -> Result<Option<(String, String)>, ApiError> {
    let (policy, key) = text.split_once(':').unwrap_or((text, ""));
    if policy.is_empty() || policy.contains('/') {
        return Ok(None);
    }
    let known = api.list_policies()?.into_iter().any(|p| p.name == policy);
    Ok(known.then(|| (policy.to_string(), key.to_string())))
}

/// Like [`remote_target`], but a plain name that is no policy is an error.
fn required_remote(api: &Api, text: &str) -> Result<(String, String), ApiError> {
    remote_target(api, text)?.ok_or_else(|| {
        let policy = text.split_once(':').map_or(text, |(p, _)| p);
        ApiError::invalid(
            "target",
            format!("'{policy}' is not a storage policy"),
            "write POLICY:KEY with a name from `bucketsync policy list`",
        )
    })
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn date(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "-".into() };
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "-".into())
}

/// `ls POLICY[:PREFIX] [--recursive] [--json]`: page by page, printed as
/// pages arrive, so a prefix of any size lists in flat memory.
pub async fn ls(api: &Api, target: &str, recursive: bool, json: bool) -> Result<ExitCode, ApiError> {
    let (policy, prefix) = required_remote(api, target)?;
    let mut token = None;
    let mut first = true;
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "[");
    }
    loop {
        let page = api
            .browse_list(ListRequest {
                policy: policy.clone(),
                prefix: prefix.clone(),
                recursive,
                continuation: token,
                page_size: None,
            })
            .await?;
        for e in &page.entries {
            if json {
                let sep = if first { "" } else { ",\n" };
                let _ = write!(out, "{sep}{}", serde_json::to_string(e).expect("serialisable entry"));
            } else {
                let shown = if recursive { &e.key } else { &e.name };
                let size = if e.folder { "DIR".to_string() } else { e.size.to_string() };
                let mut line = format!(
                    "{size:>12}  {:<19}  {shown}",
                    if e.folder { String::new() } else { date(e.last_modified_ms) }
                );
                if let Some(reason) = &e.unsafe_reason {
                    line.push_str(&format!(
                        "  [cannot be a file: {reason}; rename with `bucketsync mv {policy}:{} {policy}:{}`]",
                        e.key,
                        e.safe_key.as_deref().unwrap_or("?")
                    ));
                }
                let _ = writeln!(out, "{line}");
            }
            first = false;
        }
        match page.continuation {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    if json {
        let _ = writeln!(out, "{}]", if first { "" } else { "\n" });
    }
    Ok(ExitCode::SUCCESS)
}

/// Progress of a transfer: one bar per file on a terminal, one line per
/// finished file otherwise.
fn transfer_printer() -> TransferSink {
    let terminal = std::io::stderr().is_terminal();
    let multi = MultiProgress::new();
    let bars: Arc<Mutex<HashMap<String, ProgressBar>>> = Default::default();
    TransferSink::new(move |e: &TransferEvent| {
        let verb = if e.direction == "upload" { "uploaded" } else { "downloaded" };
        let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
        match e.state.as_str() {
            "running" if terminal => {
                let bar = bars.entry(e.key.clone()).or_insert_with(|| {
                    let b = multi.add(ProgressBar::new(e.bytes_total));
                    b.set_style(
                        ProgressStyle::with_template(
                            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    b.set_message(e.key.clone());
                    b
                });
                bar.set_position(e.bytes_done);
            }
            "running" => {}
            state => {
                if let Some(b) = bars.remove(&e.key) {
                    b.finish_and_clear();
                    multi.remove(&b);
                }
                let line = match state {
                    "done" => format!("{verb} {} ({})", e.key, human_size(e.bytes_total)),
                    other => format!(
                        "{other}: {}{}",
                        e.key,
                        e.message.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
                    ),
                };
                let _ = multi.println(&line);
                if !terminal {
                    eprintln!("{line}");
                }
            }
        }
    })
}

fn print_follow_up(follow_up: &[FollowUpView]) {
    for f in follow_up {
        match &f.message {
            Some(m) => println!("pair {}: {}: {m}", f.pair, f.outcome),
            None => println!("pair {}: {}", f.pair, f.outcome),
        }
    }
}

fn transfer_exit(r: &TransferReport) -> ExitCode {
    println!(
        "{} files, {}{}{}",
        r.done.len(),
        human_size(r.bytes),
        if r.skipped.is_empty() { String::new() } else { format!(", {} skipped", r.skipped.len()) },
        if r.failed.is_empty() { String::new() } else { format!(", {} failed", r.failed.len()) },
    );
    for s in &r.skipped {
        println!("  skipped {}: {}", s.key, s.message);
    }
    for f in &r.failed {
        println!("  failed {}: {}", f.key, f.message);
    }
    print_follow_up(&r.follow_up);
    if r.failed.is_empty() && !r.cancelled {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn transfer_id() -> String {
    format!("cli-{}", std::process::id())
}

/// `cp SRC DST [--recursive]`: local path <-> POLICY:KEY.
pub async fn cp(api: &Api, src: &str, dst: &str, recursive: bool) -> Result<ExitCode, ApiError> {
    let from = remote_target(api, src)?;
    let to = remote_target(api, dst)?;
    match (from, to) {
        (None, Some((policy, key))) => {
            let path = Path::new(src);
            if path.is_dir() && !recursive {
                return Ok(usage(&format!("{src} is a folder: add --recursive to upload it with everything in it")));
            }
            // `POLICY:dir/` or `POLICY:` puts the file or folder inside;
            // `POLICY:name` names a single file's object.
            let (prefix, key) = if key.is_empty() || key.ends_with('/') || path.is_dir() {
                let prefix = if key.is_empty() || key.ends_with('/') { key } else { format!("{key}/") };
                (prefix, None)
            } else {
                (String::new(), Some(key))
            };
            let req = UploadRequest { id: transfer_id(), policy, prefix, paths: vec![src.to_string()], overwrite: true, key };
            let report = api.browse_upload(req, transfer_printer()).await?;
            Ok(transfer_exit(&report))
        }
        (Some((policy, key)), None) => {
            let dest = Path::new(dst);
            let folder = key.is_empty() || key.ends_with('/');
            if folder && !recursive {
                return Ok(usage(&format!("{src} is a folder: add --recursive to download everything in it")));
            }
            let (dest_dir, dest_name) = if dest.is_dir() {
                (dst.to_string(), None)
            } else if folder {
                return Ok(usage(&format!("{dst} must be an existing folder to download a folder into")));
            } else {
                let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                let name = dest.file_name().map(|n| n.to_string_lossy().into_owned());
                (parent.display().to_string(), name)
            };
            let (keys, prefixes) = if folder { (vec![], vec![key]) } else { (vec![key], vec![]) };
            let req = DownloadRequest { id: transfer_id(), policy, keys, prefixes, dest_dir, overwrite: true, dest_name };
            let report = api.browse_download(req, transfer_printer()).await?;
            Ok(transfer_exit(&report))
        }
        (Some(_), Some(_)) => Ok(usage("both sides are in a bucket: use `bucketsync mv` to move inside a bucket")),
        (None, None) => Ok(usage(&format!(
            "neither {src} nor {dst} is POLICY:KEY (see `bucketsync policy list`); one side must be in a bucket"
        ))),
    }
}

/// `mv POLICY:SRC POLICY:DST`: server-side copy, then delete.
pub async fn mv(api: &Api, src: &str, dst: &str) -> Result<ExitCode, ApiError> {
    let (p1, from) = required_remote(api, src)?;
    let (p2, to) = required_remote(api, dst)?;
    if p1 != p2 {
        return Ok(usage("mv moves inside one bucket: both sides must name the same policy"));
    }
    let report = api.browse_rename(RenameRequest { policy: p1, from: from.clone(), to: to.clone() }).await?;
    println!("moved {} object{} from {from} to {to}", report.moved, if report.moved == 1 { "" } else { "s" });
    for w in &report.warnings {
        println!("  warning: {w}");
    }
    for f in &report.failed {
        println!("  failed {}: {}", f.key, f.message);
    }
    print_follow_up(&report.follow_up);
    Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `rm POLICY:KEY... [--recursive] [--yes]`: counts first, asks on a
/// terminal unless `--yes`, refuses without a terminal unless `--yes`.
pub async fn rm(api: &Api, targets: &[String], recursive: bool, yes: bool) -> Result<ExitCode, ApiError> {
    let mut by_policy: Vec<DeleteRequest> = Vec::new();
    for t in targets {
        let (policy, key) = required_remote(api, t)?;
        let folder = key.is_empty() || key.ends_with('/');
        if folder && !recursive {
            return Ok(usage(&format!("{t} is a folder: add --recursive to delete everything in it")));
        }
        let req = match by_policy.iter_mut().find(|r| r.policy == policy) {
            Some(r) => r,
            None => {
                by_policy.push(DeleteRequest { policy: policy.clone(), ..Default::default() });
                by_policy.last_mut().expect("just pushed")
            }
        };
        // `rm -r name` deletes the object `name` and everything below `name/`.
        if folder {
            req.prefixes.push(key);
        } else if recursive {
            req.prefixes.push(format!("{key}/"));
            req.keys.push(key);
        } else {
            req.keys.push(key);
        }
    }
    let mut previews = Vec::new();
    let mut total = 0;
    for req in &by_policy {
        let p = api.browse_delete_preview(req).await?;
        total += p.objects;
        println!(
            "{}: {} object{} ({}) to delete",
            req.policy,
            p.objects,
            if p.objects == 1 { "" } else { "s" },
            human_size(p.bytes)
        );
        for pair in &p.synced_by {
            println!(
                "  pair {} syncs {}: the local copies in {} will be deleted too (moved to the trash)",
                pair.pair,
                if pair.prefix.is_empty() { "the whole bucket" } else { &pair.prefix },
                pair.local_root
            );
        }
        previews.push(p);
    }
    if total == 0 {
        println!("nothing to delete");
        return Ok(ExitCode::SUCCESS);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            print_error_line("not deleting without a question answered: run on a terminal, or add --yes");
            return Ok(ExitCode::from(1));
        }
        print!("Delete {total} object{}? [y/N] ", if total == 1 { "" } else { "s" });
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            println!("nothing was deleted");
            return Ok(ExitCode::from(1));
        }
    }
    let mut ok = true;
    for req in by_policy {
        let policy = req.policy.clone();
        let report = api.browse_delete(req).await?;
        println!("{policy}: deleted {} object{}", report.deleted, if report.deleted == 1 { "" } else { "s" });
        for f in &report.failed {
            println!("  failed {}: {}", f.key, f.message);
            ok = false;
        }
        print_follow_up(&report.follow_up);
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `url POLICY:KEY [--expires DURATION]`: the link alone on stdout.
pub async fn url(api: &Api, target: &str, expires: Option<&str>) -> Result<ExitCode, ApiError> {
    let (policy, key) = required_remote(api, target)?;
    let expires_secs = expires.map(parse_duration).transpose()?.map(|d| d.as_secs());
    let link = api.browse_link(LinkRequest { policy, key, expires_secs }).await?;
    println!("{}", link.url);
    if std::io::stderr().is_terminal() {
        match link.expires_at_ms {
            Some(at) => eprintln!("presigned: works until {} UTC", date(Some(at))),
            None => eprintln!("public link: works as long as the bucket is public"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `stat POLICY:KEY [--json]`
pub async fn stat(api: &Api, target: &str, json: bool) -> Result<ExitCode, ApiError> {
    let (policy, key) = required_remote(api, target)?;
    let d = api.browse_stat(&policy, &key).await?;
    if json {
        print_json(&d);
        return Ok(ExitCode::SUCCESS);
    }
    println!("key:            {}", d.key);
    println!("size:           {} ({} bytes)", human_size(d.size), d.size);
    println!("etag:           {}", d.etag);
    println!("last modified:  {} UTC", date(d.last_modified_ms));
    if let Some(ct) = &d.content_type {
        println!("content type:   {ct}");
    }
    if let Some(sc) = &d.storage_class {
        println!("storage class:  {sc}");
    }
    if let Some(m) = d.mtime_ms {
        println!("file mtime:     {} UTC", date(Some(m)));
    }
    for m in &d.user_metadata {
        println!("metadata:       {} = {}", m.name, m.value);
    }
    if let Some(reason) = &d.unsafe_reason {
        println!("cannot be a file: {reason}; safe name: {}", d.safe_key.as_deref().unwrap_or("?"));
    }
    for p in &d.synced_by {
        println!("synced by:      pair {} ({})", p.pair, p.local_root);
    }
    Ok(ExitCode::SUCCESS)
}

//! `bucketsync sync [PAIR] [--json]`: one full pass; exit 0 iff every pair
//! converged without errors. Also renders engine events for `daemon`.

use crate::output::print_json;
use bucketsync_api::sync::{
    DecisionRecorded, Event, EventKind, EventSink, PairStatus, PreviewView, Side, SyncRequest, SyncSummary,
};
use bucketsync_api::{Api, ApiError, ErrorKind};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

#[derive(clap::Args)]
pub struct SyncArgs {
    /// Only this pair [default: every pair that is not paused]
    pub pair: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// Go ahead with the deletes the previous run stopped at and printed, only
    /// those (anything else asks again); `=ID` names the list as printed, and
    /// is refused if another list waits by now
    #[arg(
        long,
        value_name = "ID",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "",
        conflicts_with = "dry_run"
    )]
    pub confirm_deletes: Option<String>,
    /// Refuse the deletes of the list ID (as printed) and keep the files: nothing
    /// is deleted, and each file is copied back to the side it went missing from
    #[arg(long, value_name = "ID", conflicts_with_all = ["dry_run", "confirm_deletes"])]
    pub keep_files: Option<String>,
    /// Plan a full pass and print what it would do; change nothing on either side
    #[arg(long)]
    pub dry_run: bool,
}

/// Shows events: a progress bar on a terminal, plain lines on stderr otherwise.
pub fn event_printer(quiet_lines: bool) -> EventSink {
    let terminal = std::io::stderr().is_terminal();
    let bar: Arc<Mutex<Option<ProgressBar>>> = Arc::new(Mutex::new(None));
    EventSink::new(move |e: &Event| {
        let mut bar = bar.lock().unwrap_or_else(|p| p.into_inner());
        let line = match &e.kind {
            EventKind::Status {
                status:
                    PairStatus::Transferring { files_done, files_total, bytes_done, bytes_total, rate_bps },
            } => {
                if terminal {
                    let b = bar.get_or_insert_with(|| {
                        let b = ProgressBar::new(*bytes_total);
                        b.set_style(
                            ProgressStyle::with_template(
                                "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                        );
                        b
                    });
                    b.set_length(*bytes_total);
                    b.set_position(*bytes_done);
                    b.set_message(format!("{}: {files_done}/{files_total} files", e.pair));
                }
                let _ = rate_bps;
                None
            }
            EventKind::Status { status: PairStatus::Scanning } => Some(format!("{}: scanning", e.pair)),
            EventKind::Status { status: PairStatus::Idle { .. } } => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
                None
            }
            EventKind::Status { status } => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
                Some(format!("{}: {}", e.pair, describe_status(status)))
            }
            EventKind::Done { action, path, bytes } if !quiet_lines => Some(if *bytes > 0 {
                format!("{}: {action} {path} ({bytes} B)", e.pair)
            } else {
                format!("{}: {action} {path}", e.pair)
            }),
            EventKind::Done { .. } => None,
            EventKind::Warning { message } => Some(format!("{}: warning: {message}", e.pair)),
            // The daemon's passes already printed their actions one by one.
            EventKind::PassFinished { .. } => None,
        };
        if let Some(line) = line {
            match bar.as_ref() {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            }
        }
    })
}

/// A pair's state in words (never raw JSON).
fn describe_status(status: &PairStatus) -> String {
    match status {
        PairStatus::Idle { .. } => "idle".into(),
        PairStatus::Scanning => "scanning".into(),
        PairStatus::Transferring { files_done, files_total, .. } => {
            format!("transferring ({files_done}/{files_total} files)")
        }
        PairStatus::Paused => "paused".into(),
        PairStatus::NeedsConfirmation { id, reason, deletes } => {
            format!("needs confirmation: {reason} ({} deletes waiting, list {id})", deletes.len())
        }
        PairStatus::Error { message, retry_at_ms, .. } => match retry_at_ms {
            Some(_) => format!("error: {message} (will retry)"),
            None => format!("error: {message}"),
        },
    }
}

fn print_decision(d: &DecisionRecorded) {
    let what = if d.keep {
        format!("keeps the {} file(s) of list {} (nothing is deleted)", d.files, d.set)
    } else {
        format!("deletes exactly the {} file(s) of list {}", d.files, d.set)
    };
    match &d.engine {
        Some(h) => {
            println!("{}: recorded; {} (pid {}) {what} within seconds", d.pair, h.holder.describe(), h.pid)
        }
        None => println!("{}: recorded; the next sync {what}", d.pair),
    }
}

fn print_summary(summary: &SyncSummary, confirmed: bool) {
    let s = &summary.report;
    if let Some(e) = &summary.error {
        println!("{}: error: {}", s.pair, e.message);
        if let Some(h) = &e.hint {
            println!("  hint: {h}");
        }
        return;
    }
    if let Some(n) = &summary.needs_confirmation {
        println!("{}: needs confirmation: {}", s.pair, n.reason);
        if confirmed {
            println!("  the list changed since it was confirmed: this is the new one");
        }
        for d in &n.deletes {
            println!("  would delete from {}: {}", d.side, d.path);
        }
        println!("  nothing was deleted (list {}, {} file(s))", n.id, n.deletes.len());
        println!(
            "  to delete exactly these: bucketsync sync {} --confirm-deletes={} \
             (if anything else would be deleted by then, it asks again)",
            s.pair, n.id
        );
        println!("  to keep the files instead: bucketsync sync {} --keep-files={}", s.pair, n.id);
        return;
    }
    println!(
        "{}: {} uploaded, {} downloaded, {} deleted, {} conflicts, {} unsyncable{}",
        s.pair,
        s.uploaded.len(),
        s.downloaded.len(),
        s.deleted_local.len() + s.deleted_remote.len(),
        s.conflicts.len(),
        s.unsyncable.len(),
        if summary.converged { "" } else { " (not converged)" }
    );
    for c in &s.conflicts {
        println!("  conflict copy: {c}");
    }
    for u in &s.unsyncable {
        let side = match u.side {
            Side::Local => "local",
            Side::Remote => "remote",
        };
        println!("  unsyncable ({side}): {:?}: {}", u.name, u.reason);
    }
    for w in &s.waiting {
        println!("  waiting: {w}");
    }
    for d in &s.unreadable {
        println!("  unreadable (nothing below it was decided): {d}/");
    }
    for e in &s.errors {
        println!("  error: {} {}: {}", e.action, e.path, e.message);
    }
    for w in &s.warnings {
        println!("  warning: {}: {}", w.path, w.message);
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn print_preview(p: &PreviewView) {
    println!(
        "{}: would upload {} file(s) ({}), download {} ({}), delete {} locally and {} in the bucket, \
         {} conflict(s), {} unsyncable",
        p.pair,
        p.uploads.len(),
        size(p.bytes_up),
        p.downloads.len(),
        size(p.bytes_down),
        p.delete_local.len(),
        p.delete_remote.len(),
        p.conflicts.len(),
        p.unsyncable.len()
    );
    for f in &p.uploads {
        println!("  upload {} ({})", f.path, size(f.size));
    }
    for f in &p.downloads {
        println!("  download {} ({})", f.path, size(f.size));
    }
    for f in &p.delete_local {
        println!("  delete locally (to the trash) {}", f.path);
    }
    for f in &p.delete_remote {
        println!("  delete from the bucket {}", f.path);
    }
    for c in &p.conflicts {
        println!("  conflict {} (your version kept as {})", c.path, c.copy);
    }
    for u in &p.unsyncable {
        println!("  unsyncable ({}): {:?}: {}", u.side, u.name, u.reason);
    }
    for w in &p.waiting {
        println!("  waiting: {w}");
    }
    if let Some(why) = &p.needs_confirmation {
        println!("  the pass would stop and ask first: {why}");
    }
}

pub async fn run(api: &Api, args: SyncArgs) -> Result<ExitCode, ApiError> {
    if args.dry_run {
        let previews = api.preview(args.pair.as_deref()).await?;
        if args.json {
            print_json(&previews);
        } else if previews.is_empty() {
            println!("No pairs to sync. Add one with `bucketsync pair add DIR --policy NAME`.");
        }
        if !args.json {
            previews.iter().for_each(print_preview);
            println!("(dry run: nothing was changed)");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let sink = event_printer(args.json);
    let confirmed = args.confirm_deletes.is_some();
    let request = SyncRequest {
        pair: args.pair,
        confirm_deletes: confirmed,
        // `--confirm-deletes` alone: the list the previous run printed.
        confirm_set: args.confirm_deletes.filter(|id| !id.is_empty()),
        keep_set: args.keep_files,
    };
    let decides = request.keep_set.is_some() || request.confirm_set.is_some();
    let summaries = match api.sync(request.clone(), sink).await {
        Ok(s) => s,
        // The app or a daemon runs the pairs: the decision is left for it.
        Err(e) if e.kind == ErrorKind::Busy && decides => {
            let recorded = api.record_decision(&request)?;
            if args.json {
                print_json(&recorded);
            } else {
                print_decision(&recorded);
            }
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e),
    };
    let ok = summaries.iter().all(|s| s.converged && s.error.is_none() && s.needs_confirmation.is_none());
    if args.json {
        print_json(&summaries);
    } else if summaries.is_empty() {
        println!("No pairs to sync. Add one with `bucketsync pair add DIR --policy NAME`.");
    } else {
        for s in &summaries {
            print_summary(s, confirmed);
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

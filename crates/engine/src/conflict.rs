//! Names of conflict copies: `<stem> (conflict <YYYY-MM-DD HHMMSS> <device>)<.ext>`,
//! beside the original. The time is UTC, so every device names the same
//! moment the same way.

use time::OffsetDateTime;

/// The conflict copy name for `rel` (a relative path), made at `now_ms` on
/// `device`. `taken` says whether a candidate already exists on either side;
/// then ` 2`, ` 3`, ... is added inside the parentheses.
pub fn copy_name(rel: &str, now_ms: i64, device: &str, taken: impl Fn(&str) -> bool) -> String {
    let (dir, file) = match rel.rfind('/') {
        Some(i) => (&rel[..=i], &rel[i + 1..]),
        None => ("", rel),
    };
    // A leading dot is part of the stem (".bashrc"), not an extension.
    let (stem, ext) = match file.rfind('.') {
        Some(i) if i > 0 => (&file[..i], &file[i..]),
        _ => (file, ""),
    };
    let at = OffsetDateTime::from_unix_timestamp_nanos(now_ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let stamp = format!(
        "{:04}-{:02}-{:02} {:02}{:02}{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let device = clean_device(device);
    let mut n = 1;
    loop {
        let counter = if n == 1 { String::new() } else { format!(" {n}") };
        let candidate = format!("{dir}{stem} (conflict {stamp} {device}{counter}){ext}");
        if !taken(&candidate) {
            return candidate;
        }
        n += 1;
    }
}

/// Whether a file name looks like a conflict copy (for display only; the
/// planner treats conflict copies as ordinary files).
pub fn is_copy_name(rel: &str) -> bool {
    rel.contains(" (conflict ")
}

/// The device part must be one safe path segment.
fn clean_device(device: &str) -> String {
    let cleaned: String = device
        .chars()
        .map(|c| if c.is_control() || matches!(c, '/' | '\\' | ':' | '(' | ')') { '-' } else { c })
        .take(40)
        .collect();
    if cleaned.trim().is_empty() {
        "device".into()
    } else {
        cleaned.trim().to_string()
    }
}

/// This machine's name, for conflict copies.
pub fn device_name() -> String {
    clean_device(&gethostname::gethostname().to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_718_454_896_000; // 2024-06-15 12:34:56 UTC

    #[test]
    fn stem_time_device_extension() {
        let none = |_: &str| false;
        assert_eq!(
            copy_name("a/report.pdf", T, "laptop", none),
            "a/report (conflict 2024-06-15 123456 laptop).pdf"
        );
        assert_eq!(copy_name("notes", T, "pc", none), "notes (conflict 2024-06-15 123456 pc)");
        assert_eq!(copy_name(".bashrc", T, "pc", none), ".bashrc (conflict 2024-06-15 123456 pc)");
        assert_eq!(copy_name("x.tar.gz", T, "pc", none), "x.tar (conflict 2024-06-15 123456 pc).gz");
        assert!(is_copy_name(&copy_name("x", T, "pc", none)));
    }

    #[test]
    fn taken_names_get_a_counter() {
        let first = copy_name("a.txt", T, "pc", |_| false);
        let second = copy_name("a.txt", T, "pc", |c| c == first);
        assert_eq!(second, "a (conflict 2024-06-15 123456 pc 2).txt");
    }

    #[test]
    fn device_names_cannot_add_segments() {
        let name = copy_name("a.txt", T, "evil/../host", |_| false);
        assert!(!name.contains('/'), "{name}");
        assert!(crate::keypath::check_relative(&name).is_ok());
        assert_eq!(clean_device("   "), "device");
    }
}

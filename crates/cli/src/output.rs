//! How results and errors reach a person or a script.

use bucketsync_api::ApiError;
use serde::Serialize;

/// One JSON document on stdout.
pub fn print_json<T: Serialize>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).expect("serialisable output"));
}

/// `error: <message>` and, when known, what to do next; on stderr.
pub fn print_error(e: &ApiError) {
    match &e.field {
        Some(field) => eprintln!("error: {field}: {}", e.message),
        None => eprintln!("error: {}", e.message),
    }
    if let Some(hint) = &e.hint {
        eprintln!("  hint: {hint}");
    }
}

/// `error: <message>` on stderr, for failures found by the CLI itself.
pub fn print_error_line(message: &str) {
    eprintln!("error: {message}");
}

/// Rows as an aligned table with a header on a terminal; as plain
/// tab-separated lines (no header) when piped.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        for row in rows {
            println!("{}", row.join("\t"));
        }
        return;
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let text: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { c.to_string() } else { format!("{c:<w$}", w = widths[i]) })
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// One line from the terminal with echo off, so a typed secret is not shown.
pub fn read_line_without_echo() -> std::io::Result<String> {
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let have_tty = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if have_tty {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: a termios obtained from tcgetattr, with flags changed.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let res = std::io::stdin().read_line(&mut line);
    if have_tty {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    res.map(|_| line)
}

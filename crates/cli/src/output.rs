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

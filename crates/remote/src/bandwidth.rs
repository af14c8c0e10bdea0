//! Bandwidth limits, up and down, shared by every transfer of the process.
//!
//! Each request with a body reserves its bytes before it starts: the limit
//! hands out consecutive time slots (`bytes / rate` long each) and a request
//! waits until its own slot is over, then runs at full speed. So N bytes
//! never take less than N / rate, whatever the concurrency, and take longer
//! by about one request's transfer time (a part or a range of a few MiB);
//! in between, data moves in bursts of one request. A retried request
//! reserves again: it uses the link again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Bytes per second up and down; 0 means no limit. Change them at any time:
/// requests that already reserved keep their slot.
#[derive(Debug, Default)]
pub struct Bandwidth {
    up: Direction,
    down: Direction,
}

#[derive(Debug, Default)]
struct Direction {
    rate: AtomicU64,
    /// When the link is free again, by the reservations made so far.
    free_at: Mutex<Option<Instant>>,
}

impl Direction {
    async fn take(&self, bytes: u64) {
        let rate = self.rate.load(Ordering::Relaxed);
        if rate == 0 || bytes == 0 {
            return;
        }
        let end = {
            let mut free_at = self.free_at.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            // An idle link does not bank credit for later bursts.
            let start = free_at.filter(|t| *t > now).unwrap_or(now);
            let end = start + Duration::from_secs_f64(bytes as f64 / rate as f64);
            *free_at = Some(end);
            end
        };
        tokio::time::sleep_until(end).await;
    }
}

impl Bandwidth {
    pub fn new(up_bps: u64, down_bps: u64) -> Bandwidth {
        let b = Bandwidth::default();
        b.set(up_bps, down_bps);
        b
    }

    /// New limits in bytes per second (0: none).
    pub fn set(&self, up_bps: u64, down_bps: u64) {
        self.up.rate.store(up_bps, Ordering::Relaxed);
        self.down.rate.store(down_bps, Ordering::Relaxed);
    }

    /// (up, down) in bytes per second; 0 means no limit.
    pub fn get(&self) -> (u64, u64) {
        (self.up.rate.load(Ordering::Relaxed), self.down.rate.load(Ordering::Relaxed))
    }

    /// Waits until `bytes` may be sent.
    pub async fn take_up(&self, bytes: u64) {
        self.up.take(bytes).await
    }

    /// Waits until `bytes` may be received.
    pub async fn take_down(&self, bytes: u64) {
        self.down.take(bytes).await
    }
}

/// Parses a rate as people write it: `500K`, `10M`, `1.5G` (bytes per
/// second, powers of 1,000; `KiB`/`MiB`/`GiB` for powers of 1,024), `0` or
/// `off` for none. A trailing `/s` or `B` is allowed.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t).trim();
    if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
        return Ok(0);
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("'{text}' is not a rate such as 10M or 500K"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "ki" | "kib" => 1024.0,
        "mi" | "mib" => 1024.0 * 1024.0,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("'{text}': unknown unit '{unit}' (use K, M or G, bytes per second)")),
    };
    let bytes = value * factor;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("'{text}' is out of range"));
    }
    if bytes > 0.0 && bytes < 1024.0 {
        return Err(format!("'{text}' is below 1 KiB per second; use 0 or off for no limit"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_people_write_them() {
        assert_eq!(parse_rate("10M"), Ok(10_000_000));
        assert_eq!(parse_rate("1.5G/s"), Ok(1_500_000_000));
        assert_eq!(parse_rate("500KiB"), Ok(512_000));
        assert_eq!(parse_rate("2048"), Ok(2048));
        assert_eq!(parse_rate("off"), Ok(0));
        assert_eq!(parse_rate("0"), Ok(0));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("10X").is_err());
        assert!(parse_rate("100").is_err(), "a typo for 100K must not crawl at 100 B/s");
    }

    /// Reservations are consecutive: ten 1 MB requests at 10 MB/s go at
    /// 0.1 s, 0.2 s, ... 1 s of virtual time however many run at once.
    #[tokio::test(start_paused = true)]
    async fn reservations_spread_requests_over_time() {
        let b = std::sync::Arc::new(Bandwidth::new(10_000_000, 0));
        let started = Instant::now();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move {
                    b.take_up(1_000_000).await;
                    Instant::now()
                })
            })
            .collect();
        let mut starts = Vec::new();
        for t in tasks {
            starts.push(t.await.unwrap() - started);
        }
        starts.sort();
        assert_eq!(starts[0], Duration::from_millis(100), "even one request is paced");
        assert_eq!(starts[9], Duration::from_secs(1), "the tenth waits for ten slots");
        // Downloads are not limited here, and an idle link banks nothing.
        b.take_down(u64::MAX).await;
        tokio::time::advance(Duration::from_secs(5)).await;
        let t0 = Instant::now();
        b.take_up(1_000_000).await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(100));
    }
}

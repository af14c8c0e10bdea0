//! Multipart arithmetic: how big each part is and how many there are.
//!
//! Every part has the same size except the last, which may be shorter (R2
//! requires equal parts; the others allow it). The size is the provider's
//! minimum unless the object would then need more parts than the provider
//! allows, in which case it grows (rounded up to a whole MiB) until it fits.

use super::TransferLimits;

const MIB: u64 = 1024 * 1024;

/// S3's ceiling for one part (and for a single PUT).
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;

/// The part size for an object of `size` bytes, or why it cannot be sent
/// in at most `limits.max_parts` parts of at most [`MAX_PART_SIZE`].
pub fn part_size(size: u64, limits: &TransferLimits) -> Result<u64, String> {
    let max_parts = u64::from(limits.max_parts.max(1));
    let needed = size.div_ceil(max_parts);
    let grown = if needed > limits.min_part_size { needed.div_ceil(MIB) * MIB } else { 0 };
    let part = limits.min_part_size.max(grown).max(1);
    if part > MAX_PART_SIZE {
        return Err(format!(
            "an object of {size} bytes needs parts of {part} bytes to fit in {max_parts} parts, \
             over the {MAX_PART_SIZE}-byte limit for one part"
        ));
    }
    Ok(part)
}

/// How many parts of `part_size` make `size` bytes (at least one).
pub fn part_count(size: u64, part_size: u64) -> u32 {
    size.div_ceil(part_size).max(1) as u32
}

/// The byte range `(offset, length)` of 1-based part `number`.
pub fn part_range(size: u64, part_size: u64, number: u32) -> (u64, u64) {
    let offset = u64::from(number - 1) * part_size;
    (offset, part_size.min(size - offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(min_part_size: u64, max_parts: u32) -> TransferLimits {
        TransferLimits { max_concurrent_parts: 4, min_part_size, max_parts, multipart_threshold: 0 }
    }

    const TIB: u64 = 1024 * 1024 * MIB;

    /// Checks every rule for one object: count, minimum, equal parts, full coverage.
    fn check(size: u64, l: &TransferLimits) -> u64 {
        let part = part_size(size, l).unwrap();
        let n = part_count(size, part);
        assert!(n <= l.max_parts, "{size}: {n} parts > {}", l.max_parts);
        assert!(part >= l.min_part_size, "{size}: part {part} under the minimum");
        assert!(part <= MAX_PART_SIZE);
        let mut covered = 0;
        for number in 1..=n {
            let (offset, len) = part_range(size, part, number);
            assert_eq!(offset, covered, "parts are contiguous");
            if number < n {
                assert_eq!(len, part, "every part but the last has the same size");
            } else {
                assert!(len <= part && (len > 0 || size == 0), "the last part is not empty");
            }
            covered += len;
        }
        assert_eq!(covered, size, "parts cover the whole object");
        part
    }

    /// Small objects use the provider minimum as is (5 MiB for S3).
    #[test]
    fn small_objects_use_the_minimum() {
        let l = limits(5 * MIB, 10_000);
        assert_eq!(check(16 * MIB, &l), 5 * MIB);
        assert_eq!(part_count(16 * MIB, 5 * MIB), 4);
        assert_eq!(part_range(16 * MIB, 5 * MIB, 4), (15 * MIB, MIB));
    }

    /// Exactly max_parts minimum-sized parts still fit without growing.
    #[test]
    fn exactly_max_parts_fits_at_the_minimum() {
        let l = limits(5 * MIB, 10_000);
        assert_eq!(check(10_000 * 5 * MIB, &l), 5 * MIB);
        assert_eq!(part_count(10_000 * 5 * MIB, 5 * MIB), 10_000);
        // One byte more forces a bigger part, never a 10,001st part.
        assert_eq!(check(10_000 * 5 * MIB + 1, &l), 6 * MIB);
    }

    /// A 5 TiB object fits in 10,000 parts (of 525 MiB) and 1 byte more too.
    #[test]
    fn five_tib_objects_fit_in_ten_thousand_parts() {
        let l = limits(5 * MIB, 10_000);
        assert_eq!(check(5 * TIB, &l), 525 * MIB);
        assert_eq!(part_count(5 * TIB, 525 * MIB), 9_987);
    }

    /// Scaleway's 1,000-part limit grows parts tenfold; beyond 5 GiB parts it is refused.
    #[test]
    fn scaleway_thousand_parts() {
        let l = limits(5 * MIB, 1_000);
        assert_eq!(check(TIB, &l), 1049 * MIB);
        assert!(part_size(5 * TIB, &l).is_err(), "5 TiB would need parts over 5 GiB");
    }

    /// B2's minimum is 5,000,000 bytes (not a MiB multiple) and is used as is.
    #[test]
    fn b2_decimal_minimum_is_kept() {
        let l = limits(5_000_000, 10_000);
        assert_eq!(check(12_000_000, &l), 5_000_000);
        assert_eq!(part_count(12_000_000, 5_000_000), 3);
    }

    /// Storj's 64 MiB minimum wins over anything smaller.
    #[test]
    fn storj_minimum() {
        let l = limits(64 * MIB, 10_000);
        assert_eq!(check(100 * MIB, &l), 64 * MIB);
        assert_eq!(check(TIB, &l), 105 * MIB);
    }

    /// Odd sizes around the limits all pass every rule.
    #[test]
    fn assorted_sizes_pass_every_rule() {
        for l in [limits(5 * MIB, 10_000), limits(5_000_000, 10_000), limits(64 * MIB, 10_000)] {
            for size in [1, 5 * MIB - 1, 5 * MIB, 5 * MIB + 1, 123_456_789, 50_000 * MIB + 7, 5 * TIB - 1] {
                check(size, &l);
            }
        }
    }
}

//! Log epochs (`spec/audit-log.md` §9): a node whose store was restored with loss continues
//! its log under a new origin, the next epoch's, whose first entry declares the loss
//! (`AuditEntry::LogRestored`). Written once here for the node, the witnesses and the
//! verifier.

/// The first epoch of every log: its origin is the agency's base origin.
pub const FIRST_EPOCH: u64 = 1;

/// The highest log epoch: a node restored with loss this many times has to be given a new
/// agency id. The bound keeps an epoch origin within 200 + 27 bytes
/// ([`MAX_ORIGIN_LEN`](crate::MAX_ORIGIN_LEN) is 255) and leaves no overflow to think about.
pub const MAX_EPOCH: u64 = 1_000_000;

/// The origin of the log `base` in `epoch` (`spec/audit-log.md` §9): `base` in epoch 1 (so
/// every log that was never restored with loss keeps its origin), `<base>/epoch/<n>` (decimal,
/// no leading zero) from epoch 2 on. A new epoch is a new log for every witness and monitor;
/// its first entry is the `log_restored` declaration tying it to the epoch before.
pub fn epoch_origin(base: &str, epoch: u64) -> String {
    if epoch <= FIRST_EPOCH {
        base.to_owned()
    } else {
        format!("{base}/epoch/{epoch}")
    }
}

/// Splits a log origin into its base and its epoch: `<base>/epoch/<n>` with `n` in
/// 2..=[`MAX_EPOCH`] written canonically is epoch `n`; any other origin is a base in epoch 1.
/// `None` for an origin that spells an epoch non-canonically (`/epoch/1`, `/epoch/02`,
/// over the bound): no log has that name, and accepting it would give one log two names.
pub fn split_epoch(origin: &str) -> Option<(&str, u64)> {
    let Some((base, n)) = origin.rsplit_once("/epoch/") else {
        return Some((origin, FIRST_EPOCH));
    };
    if base.is_empty() || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Some((origin, FIRST_EPOCH));
    }
    let epoch: u64 = n.parse().ok()?;
    if n.starts_with('0') || epoch <= FIRST_EPOCH || epoch > MAX_EPOCH {
        return None;
    }
    Some((base, epoch))
}

/// The origin of the epoch before `origin`'s, if `origin` is of epoch 2 or later.
pub fn previous_epoch_origin(origin: &str) -> Option<String> {
    let (base, epoch) = split_epoch(origin)?;
    (epoch > FIRST_EPOCH).then(|| epoch_origin(base, epoch - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_before() {
        assert_eq!(previous_epoch_origin("a.example/log"), None);
        assert_eq!(
            previous_epoch_origin("a.example/log/epoch/2").as_deref(),
            Some("a.example/log")
        );
        assert_eq!(
            previous_epoch_origin("a.example/log/epoch/3").as_deref(),
            Some("a.example/log/epoch/2")
        );
        assert_eq!(previous_epoch_origin("a.example/log/epoch/01"), None);
    }
}

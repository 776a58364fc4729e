//! RLIMIT_MEMLOCK, read once in one way for both drivers' startup errors (glommio registers
//! locked I/O memory; an io_uring ring may need locked memory on older kernels). It only
//! reads the limit; it never changes it.

/// The soft RLIMIT_MEMLOCK in bytes; `None` if unlimited or unreadable.
pub(crate) fn limit_bytes() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` into the valid, exclusively borrowed `limit`.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// The limit as an error message shows it: `"65536 bytes"` or `"unlimited"`.
pub(crate) fn describe(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_owned(), |bytes| format!("{bytes} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_described_in_bytes() {
        assert_eq!(describe(Some(65536)), "65536 bytes");
        assert_eq!(describe(None), "unlimited");
        // Whatever this machine's limit is, it reads without failing.
        let _ = limit_bytes();
    }
}

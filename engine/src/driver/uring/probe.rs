//! Startup checks: build the shard's ring with the features the driver needs, or explain
//! (kernel, sysctl, seccomp, RLIMIT_MEMLOCK) why it cannot be built and what to do.
//!
//! Needed, with the kernel that brought it: SINGLE_ISSUER (6.0), DEFER_TASKRUN (6.1),
//! multishot recv (6.0), provided-buffer rings (5.19), multishot accept (5.19). Hence 6.1.
//! The explanation is a pure function of the facts ([`diagnose`]), tested without io_uring.

use std::io;

use io_uring::{opcode, IoUring, Probe};

/// The oldest kernel with every feature the driver uses.
pub(super) const KERNEL_MIN: (u32, u32) = (6, 1);

const USE_GLOMMIO: &str =
    "Or use the glommio driver (ServerConfig::driver = Driver::Glommio or Driver::Auto; \
     example server: --driver glommio)";

/// What the machine says about io_uring, gathered before and after a failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Facts {
    /// `(major, minor)` of the running kernel, if it parses.
    pub kernel: Option<(u32, u32)>,
    /// `kernel.io_uring_disabled`: 0 allowed, 1 only for root or `kernel.io_uring_group`,
    /// 2 disabled. `None` on kernels without the sysctl (older than 6.6).
    pub sysctl_disabled: Option<u32>,
    /// Soft RLIMIT_MEMLOCK in bytes (`None`: unlimited).
    pub memlock: Option<u64>,
}

impl Facts {
    pub(super) fn gather() -> Self {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|release| parse_release(&release));
        let sysctl_disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
            .ok()
            .and_then(|v| v.trim().parse().ok());
        Self {
            kernel,
            sysctl_disabled,
            memlock: crate::runtime::memlock::limit_bytes(),
        }
    }
}

/// `"6.18.44-foo"` -> `(6, 18)`.
pub(super) fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// A failure to start, as `(reason, fix)`.
pub(super) type Diagnosis = (String, String);

/// Refuses kernels known to lack a needed feature, before touching io_uring.
pub(super) fn check_kernel(facts: &Facts) -> Result<(), Diagnosis> {
    match facts.kernel {
        Some(kernel) if kernel < KERNEL_MIN => Err((
            format!(
                "Linux {}.{} is too old: the driver needs {}.{} or later (DEFER_TASKRUN, \
                 multishot recv, provided-buffer rings)",
                kernel.0, kernel.1, KERNEL_MIN.0, KERNEL_MIN.1
            ),
            format!("Upgrade the kernel. {USE_GLOMMIO}."),
        )),
        _ => Ok(()),
    }
}

/// Explains why `step` failed with `error`.
pub(super) fn diagnose(step: &str, error: &io::Error, facts: &Facts) -> Diagnosis {
    let reason = format!("{step} failed: {error}");
    let fix = match error.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => match facts.sysctl_disabled {
            Some(2) => "io_uring is disabled by sysctl: set kernel.io_uring_disabled=0 \
                        (`sysctl -w kernel.io_uring_disabled=0`)"
                .to_owned(),
            Some(1) => "io_uring is limited by sysctl kernel.io_uring_disabled=1 to root and \
                        the group in kernel.io_uring_group: add this user to that group or \
                        set kernel.io_uring_disabled=0"
                .to_owned(),
            _ => "A seccomp profile most likely blocks io_uring (container runtimes do by \
                  default): allow io_uring_setup, io_uring_enter and io_uring_register \
                  (docker: --security-opt seccomp=<profile>)"
                .to_owned(),
        },
        Some(libc::ENOSYS) => "The kernel has no io_uring (CONFIG_IO_URING=n), or a seccomp \
                               profile hides it: use a kernel with io_uring, or allow its \
                               three syscalls"
            .to_owned(),
        Some(libc::ENOMEM) => format!(
            "The kernel could not lock memory for the ring; RLIMIT_MEMLOCK is {}: raise it \
             (`ulimit -l`, LimitMEMLOCK= in systemd, --ulimit memlock= in docker) or lower \
             UringConfig::ring_entries / buffer_count",
            facts
                .memlock
                .map_or("unlimited".to_owned(), |b| format!("{} KiB", b / 1024))
        ),
        Some(libc::EINVAL) => format!(
            "The kernel rejected a feature the driver needs (it needs Linux {}.{} or later; \
             this is {})",
            KERNEL_MIN.0,
            KERNEL_MIN.1,
            facts
                .kernel
                .map_or("unknown".to_owned(), |(a, b)| format!("{a}.{b}"))
        ),
        _ => "See the error above".to_owned(),
    };
    (reason, format!("{fix}. {USE_GLOMMIO}."))
}

/// Builds the shard's ring: one issuer (this thread), completions run only when it waits.
pub(super) fn build_ring(entries: u32, facts: &Facts) -> Result<IoUring, Diagnosis> {
    check_kernel(facts)?;
    let ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(entries.saturating_mul(4))
        .setup_submit_all()
        .build(entries)
        .map_err(|e| diagnose("io_uring_setup (SINGLE_ISSUER | DEFER_TASKRUN)", &e, facts))?;
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| diagnose("probe", &e, facts))?;
    let required = [
        (opcode::AcceptMulti::CODE, "ACCEPT"),
        (opcode::RecvMulti::CODE, "RECV"),
        (opcode::Send::CODE, "SEND"),
        (opcode::Read::CODE, "READ"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    ];
    if let Some((_, name)) = required.iter().find(|(code, _)| !probe.is_supported(*code)) {
        let error = io::Error::from_raw_os_error(libc::EINVAL);
        let mut diagnosis = diagnose(&format!("opcode {name}"), &error, facts);
        diagnosis.0 = format!("the kernel does not support IORING_OP_{name}");
        return Err(diagnosis);
    }
    Ok(ring)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kernel: (u32, u32), sysctl: Option<u32>) -> Facts {
        Facts {
            kernel: Some(kernel),
            sysctl_disabled: sysctl,
            memlock: Some(8 << 20),
        }
    }

    #[test]
    fn parses_kernel_releases() {
        assert_eq!(parse_release("6.18.44-fc-v769\n"), Some((6, 18)));
        assert_eq!(parse_release("5.15.0-91-generic"), Some((5, 15)));
        assert_eq!(parse_release("garbage"), None);
    }

    #[test]
    fn old_kernels_are_refused_with_the_other_driver_named() {
        let (reason, fix) = check_kernel(&facts((5, 15), None)).unwrap_err();
        assert!(
            reason.contains("5.15") && reason.contains("6.1"),
            "{reason}"
        );
        assert!(fix.contains("--driver glommio"), "{fix}");
        assert!(check_kernel(&facts((6, 1), None)).is_ok());
        assert!(
            check_kernel(&Facts::default()).is_ok(),
            "unknown kernels get a try"
        );
    }

    #[test]
    fn each_errno_names_its_fix() {
        let err = |errno| io::Error::from_raw_os_error(errno);
        let fix = |errno, sysctl| diagnose("setup", &err(errno), &facts((6, 8), sysctl)).1;
        assert!(fix(libc::EPERM, Some(2)).contains("io_uring_disabled=0"));
        assert!(fix(libc::EPERM, Some(1)).contains("io_uring_group"));
        assert!(fix(libc::EPERM, Some(0)).contains("seccomp"));
        assert!(fix(libc::ENOSYS, None).contains("CONFIG_IO_URING"));
        assert!(fix(libc::ENOMEM, None).contains("8192 KiB"));
        assert!(fix(libc::EINVAL, None).contains("6.8"));
        for errno in [
            libc::EPERM,
            libc::ENOSYS,
            libc::ENOMEM,
            libc::EINVAL,
            libc::EIO,
        ] {
            assert!(fix(errno, None).contains("Driver::Glommio"));
        }
    }

    #[test]
    fn this_machine_builds_a_ring_or_says_why() {
        // Either outcome is fine here; the point is that a failure is explained.
        match build_ring(8, &Facts::gather()) {
            Ok(ring) => assert!(ring.params().is_feature_nodrop()),
            Err((reason, fix)) => assert!(!reason.is_empty() && fix.contains("glommio")),
        }
    }
}

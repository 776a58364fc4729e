//! What a report records about where and when it was made.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub date_utc: String,
    pub commit: String,
    pub cpu_model: String,
    pub cpus: usize,
    pub memory: String,
    pub kernel: String,
    pub rustc: String,
    pub go: String,
}

fn command_line(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Machine {
    pub fn probe(root: &Path) -> Self {
        let unknown = || "unknown".to_owned();
        let commit = match command_line("git", &["rev-parse", "--short=12", "HEAD"], root) {
            Some(hash) => {
                let dirty = command_line(
                    "git",
                    &["status", "--porcelain", "--untracked-files=no"],
                    root,
                )
                .is_some_and(|s| !s.is_empty());
                if dirty {
                    format!("{hash} (with uncommitted changes)")
                } else {
                    hash
                }
            }
            None => unknown(),
        };
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, key: &str| {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(key)
                        .and_then(|r| r.trim_start().strip_prefix(':'))
                })
                .map(|v| v.trim().to_owned())
        };
        Self {
            date_utc: command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"], root)
                .unwrap_or_else(unknown),
            commit,
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(unknown),
            // The machine's CPUs, not this process's affinity mask (the runner is pinned).
            cpus: cpuinfo
                .lines()
                .filter(|l| l.starts_with("processor"))
                .count(),
            memory: field(&meminfo, "MemTotal").unwrap_or_else(unknown),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| unknown()),
            rustc: command_line("rustc", &["--version"], root).unwrap_or_else(unknown),
            go: command_line("go", &["version"], root).unwrap_or_else(unknown),
        }
    }
}

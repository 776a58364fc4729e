//! What a fail mode is and its numbers: [`FailMode`] (rpcx-go's modes and names) and
//! [`FailPolicy`] (a mode with its retries and delays). The loops that act on them are in
//! the parent module.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::select::UnknownMode;

/// The fail modes, with rpcx-go's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailMode {
    /// Retry on other servers (rpcx `Failover`, 0; rpcx's default).
    #[default]
    Failover,
    /// No retry (rpcx `Failfast`, 1).
    Failfast,
    /// Retry on the same server (rpcx `Failtry`, 2).
    Failtry,
    /// Send a backup request to a second server after a delay (rpcx `Failbackup`, 3).
    Failbackup,
}

impl FailMode {
    /// The name [`FromStr`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Failover => "failover",
            Self::Failfast => "failfast",
            Self::Failtry => "failtry",
            Self::Failbackup => "failbackup",
        }
    }
}

impl fmt::Display for FailMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FailMode {
    type Err = UnknownMode;

    /// Accepts the names in any case (rpcx-go's names are the same words).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "failover" => Self::Failover,
            "failfast" => Self::Failfast,
            "failtry" => Self::Failtry,
            "failbackup" => Self::Failbackup,
            _ => {
                return Err(UnknownMode {
                    kind: "fail",
                    name: s.to_owned(),
                    expected: "failover, failfast, failtry, failbackup",
                })
            }
        })
    }
}

/// A fail mode with its numbers. Defaults are rpcx-go's (`client.DefaultOption`). Built
/// with [`FailPolicy::new`] and its setters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailPolicy {
    /// The mode.
    pub mode: FailMode,
    /// Failover/Failtry: attempts after the first.
    pub retries: u32,
    /// Failover/Failtry: pause between attempts.
    pub retry_interval: Duration,
    /// Failbackup: how long the first attempt runs alone.
    pub backup_latency: Duration,
}

impl Default for FailPolicy {
    fn default() -> Self {
        Self {
            mode: FailMode::Failover,
            retries: 3,
            retry_interval: Duration::ZERO,
            backup_latency: Duration::from_millis(10),
        }
    }
}

impl FailPolicy {
    /// `mode` with rpcx-go's numbers.
    pub fn new(mode: FailMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// Sets [`retries`](Self::retries).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets [`retry_interval`](Self::retry_interval).
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// Sets [`backup_latency`](Self::backup_latency).
    pub fn backup_latency(mut self, latency: Duration) -> Self {
        self.backup_latency = latency;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        for mode in [
            FailMode::Failover,
            FailMode::Failfast,
            FailMode::Failtry,
            FailMode::Failbackup,
        ] {
            assert_eq!(mode.name().parse::<FailMode>(), Ok(mode));
        }
        assert_eq!("Failover".parse::<FailMode>(), Ok(FailMode::Failover));
        assert!("failsafe".parse::<FailMode>().is_err());
    }
}

//! The I/O drivers of a shard, and the choice between them ([`Driver`]).
//!
//! A driver only performs I/O: it accepts, reads, writes, closes and parks, and performs
//! what the shard runtime (`crate::runtime`) and the connection core (`crate::conn`) return.
//! - `glommio/`: one glommio executor per shard ([`Driver::Glommio`]);
//! - `uring/`: one raw io_uring and one loop per shard ([`Driver::Uring`]).
//!
//! The two never import each other; what they share lives in `crate::runtime`.

pub(crate) mod glommio;
pub(crate) mod uring;

use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::error::StartError;
use crate::runtime::ShardPlan;

/// The I/O driver of the shards. Both serve the same protocol with the same handlers;
/// handlers that use [`crate::sleep`] and [`crate::spawn`] run on either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Driver {
    /// The io_uring driver where the kernel allows it, else the glommio driver, with one
    /// warning that names why io_uring could not start. The default.
    #[default]
    Auto,
    /// One raw io_uring per shard (`driver/uring/`): multishot accept and recv into a ring
    /// of provided buffers, frames parsed where the kernel put them, one send per connection
    /// per loop. Needs Linux 6.1 or later; costs less CPU per request (README: "Drivers").
    /// If it cannot start, [`crate::Server::start`] fails with [`StartError::Uring`], which
    /// says why and how to fix it.
    Uring,
    /// One glommio executor per shard (`driver/glommio/`). Choose it to embed the engine in
    /// a glommio application or for handlers that call glommio's own APIs (a glommio timer
    /// panics on an io_uring shard).
    Glommio,
}

impl std::str::FromStr for Driver {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "glommio" => Ok(Self::Glommio),
            "uring" | "io_uring" | "io-uring" => Ok(Self::Uring),
            _ => Err(format!(
                "unknown driver {s:?} (expected \"auto\", \"uring\" or \"glommio\")"
            )),
        }
    }
}

/// Settings of the io_uring driver, per shard. Start from `UringConfig::default()` and chain
/// setters (`UringConfig::default().buffer_count(64)`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UringConfig {
    /// Receive buffers in the shard's provided-buffer ring (a power of two). They are shared
    /// by all connections of the shard: an idle connection holds none. Default 256.
    pub buffer_count: u16,
    /// Size of each receive buffer. Default 32 KiB (with the count: 8 MiB per shard). A frame
    /// cut by the end of a buffer is copied to be made whole, so larger buffers copy less of
    /// large requests (8 KiB requests: about one in four instead of one in two); a buffer a
    /// handler keeps a payload of stays lent in whole.
    pub buffer_size_bytes: usize,
    /// Submission queue entries of the shard's ring (completion queue: 4 times as many).
    /// Default 1024.
    pub ring_entries: u32,
}

impl UringConfig {
    /// Sets the number of receive buffers in each shard's ring (a power of two).
    #[must_use]
    pub fn buffer_count(mut self, count: u16) -> Self {
        self.buffer_count = count;
        self
    }

    /// Sets the size of each receive buffer.
    #[must_use]
    pub fn buffer_size_bytes(mut self, bytes: usize) -> Self {
        self.buffer_size_bytes = bytes;
        self
    }

    /// Sets the submission queue entries of each shard's ring.
    #[must_use]
    pub fn ring_entries(mut self, entries: u32) -> Self {
        self.ring_entries = entries;
        self
    }
}

impl Default for UringConfig {
    fn default() -> Self {
        Self {
            buffer_count: 256,
            buffer_size_bytes: 32 << 10,
            ring_entries: 1024,
        }
    }
}

/// Starts one shard's thread on `driver` (never `Auto`: the server resolves it first). The
/// outcome of its startup is reported on `ready` before it accepts any connection.
pub(crate) fn spawn_shard(
    driver: Driver,
    plan: ShardPlan,
    ready: mpsc::Sender<Result<(), StartError>>,
) -> std::io::Result<JoinHandle<()>> {
    match driver {
        Driver::Glommio => glommio::spawn(plan, ready),
        Driver::Uring | Driver::Auto => uring::spawn(plan, ready),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivers_parse_by_name_and_auto_is_the_default() {
        assert_eq!("auto".parse(), Ok(Driver::Auto));
        assert_eq!("uring".parse(), Ok(Driver::Uring));
        assert_eq!("io_uring".parse(), Ok(Driver::Uring));
        assert_eq!("glommio".parse(), Ok(Driver::Glommio));
        assert!("tokio".parse::<Driver>().is_err());
        assert_eq!(Driver::default(), Driver::Auto);
        let config = UringConfig::default()
            .buffer_count(8)
            .buffer_size_bytes(1024)
            .ring_entries(64);
        assert_eq!(
            (
                config.buffer_count,
                config.buffer_size_bytes,
                config.ring_entries
            ),
            (8, 1024, 64)
        );
    }
}

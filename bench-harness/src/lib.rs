//! ringrpc's macro benchmark harness: it runs ringrpc, rpcx-go, grpc-go, tonic, volo-grpc
//! and a framing ceiling side by side on one machine and reports ratios, following the method of the
//! project's benchmark document (pinning, fresh server per cell, interleaved rounds).
//!
//! Nothing here is imported by another crate. Read first: [`scenario`] (what a run is
//! made of, as data), then [`runner`] (how one cell is run and checked for host stalls),
//! [`loadgen`] (the Rust load generator), [`summary`] and [`report`].
//!
//! The pieces:
//! - [`scenario`]: the TOML scenario files in `bench-harness/scenarios/`.
//! - [`servers`] and [`runner`]: pinned processes, /proc CPU accounting, retries.
//! - [`loadgen`]: a pipelined closed/open-loop load generator over the codec.
//! - [`sample`]: the JSON line both load generators (Rust and Go) print.
//! - [`summary`], [`report`], [`chart`]: medians, ratios (ringrpc / each peer, each server /
//!   the framing ceiling), markdown/CSV/JSON and the SVG.
//! - [`targets`]: the benchmark document's targets checked against a run.
//! - [`hostile`]: hostile-peer attacks against each server, measured from outside.
//! - [`client_cost`]: each client's own CPU per call at fixed rates (Rust and Go).
//! - [`tls_overhead`]: each server over TLS against its own plaintext figure.

pub mod chart;
pub mod client_cost;
pub mod disturbance;
pub mod hostile;
pub mod loadgen;
pub mod machine;
pub mod procstat;
pub mod report;
pub mod runner;
pub mod sample;
pub mod scenario;
pub mod servers;
pub mod summary;
pub mod targets;
pub mod tls_overhead;

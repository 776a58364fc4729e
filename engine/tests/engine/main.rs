//! The engine's behaviour tests, one module per behaviour, built as one test binary. Three
//! tests stay binaries of their own because they change the whole process: the two
//! allocation tests install a counting global allocator, and `startup_error` lowers
//! RLIMIT_MEMLOCK.
//!
//! `RINGRPC_TEST_DRIVER=uring` runs every server here on the io_uring driver.
//!
//! The binary's global allocator counts live heap bytes per thread (`hostile_idle_memory`
//! reads a shard thread's figure); it forwards to the system allocator.

mod common;

mod admin_rpcx_port;
mod auth;
mod bad_input;
mod connection_core;
mod connection_time;
mod deadline;
mod driver_choice;
mod error_replies;
mod graceful_shutdown;
mod gzip_bomb;
mod heartbeat;
mod hostile_closed_handlers;
mod hostile_faults;
mod hostile_idle_memory;
mod hostile_inflight;
mod hostile_metadata;
mod hostile_shutdown;
mod hostile_slow_reader;
mod hostile_slow_sender;
#[cfg(feature = "test-certs")]
mod hostile_tls;
mod http_gateway;
mod idle_timeout;
mod inflight_cap;
mod listeners;
mod max_connections;
mod multi_shard;
mod oneway;
mod oversized_frame;
mod pipelining;
mod plugins;
mod plugins_write;
mod push;
mod quiet_sends;
mod registry_etcd;
mod registry_lease_loss;
mod registry_status;
mod reply_by_reference;
mod reply_rules;
mod service_list;
mod slow_handler;
#[cfg(feature = "test-certs")]
mod tls_handshake;
mod uring_buffers;

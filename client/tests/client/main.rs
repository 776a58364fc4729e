//! The client's tests, one module per behaviour, built as one test binary: against the
//! engine, fake servers, a fault-injecting proxy, rpcx-go and etcd.

#[macro_use]
mod support;
#[cfg(all(feature = "etcd", feature = "tokio"))]
mod governance_support;

mod attempt_timeout;
mod auth;
mod close;
mod concurrency;
mod connect;
mod connection_loss;
mod deadline;
mod errors;
mod governance_etcd_cluster;
mod governance_etcd_hold;
mod governance_etcd_outage;
mod governance_glommio;
mod governance_go_etcd;
mod governance_xclient;
mod gzip;
mod heartbeat;
mod hostile_client;
mod hostile_xclient;
mod in_flight_cap;
mod large_payload;
mod metadata;
mod oneway;
mod payload_codecs;
mod pipelining;
mod plugins;
mod push;
mod tls;
mod trace_go;
mod unix_socket;

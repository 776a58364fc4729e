//! The `ringrpc` tool as a process: `call` against the engine with the example server's
//! services and through rpcx-go's HTTP gateway, the registry commands against servers
//! registered in the shared etcd, and shell completions.

mod support;

mod call;
mod completions;
mod http;
mod registry;
mod tls;

//! Peer to peer: one fixed server (rpcx-go's `Peer2PeerDiscovery`).

use std::sync::Arc;

use super::{Discovery, Hub, ServerWatch};
use crate::select::Instance;

/// Always the same single server.
#[derive(Debug, Clone)]
pub struct PeerDiscovery {
    hub: Arc<Hub>,
}

impl PeerDiscovery {
    /// `key` is `network@address` (`tcp@127.0.0.1:8972`), `metadata` a query string or "".
    pub fn new(key: impl Into<String>, metadata: impl Into<String>) -> Self {
        Self {
            hub: Hub::new(vec![Instance::new(key, metadata)]),
        }
    }
}

impl Discovery for PeerDiscovery {
    fn watch(&self) -> ServerWatch {
        self.hub.subscribe()
    }
}

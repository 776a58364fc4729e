//! A static list of servers that the application may replace (rpcx-go's
//! `MultipleServersDiscovery` with its `Update`).

use std::sync::Arc;

use super::{Discovery, Hub, ServerWatch};
use crate::select::Instance;

/// A list given by the application; [`Self::update`] pushes a new one to every watch.
#[derive(Debug, Clone)]
pub struct MultipleDiscovery {
    hub: Arc<Hub>,
}

impl MultipleDiscovery {
    /// Starts with `servers`.
    pub fn new(servers: Vec<Instance>) -> Self {
        Self {
            hub: Hub::new(servers),
        }
    }

    /// `(key, metadata)` pairs, e.g. `[("tcp@127.0.0.1:8972", "weight=2")]`.
    pub fn from_pairs<K: Into<String>, M: Into<String>>(
        pairs: impl IntoIterator<Item = (K, M)>,
    ) -> Self {
        Self::new(
            pairs
                .into_iter()
                .map(|(key, metadata)| Instance::new(key, metadata))
                .collect(),
        )
    }

    /// Replaces the list; every watch sees it on its next refresh.
    pub fn update(&self, servers: Vec<Instance>) {
        self.hub.publish(servers);
    }
}

impl Discovery for MultipleDiscovery {
    fn watch(&self) -> ServerWatch {
        self.hub.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_reaches_existing_watches() {
        let discovery = MultipleDiscovery::from_pairs([("tcp@a:1", ""), ("tcp@b:1", "")]);
        let mut watch = discovery.watch();
        assert_eq!(watch.current().len(), 2);
        discovery.update(vec![Instance::new("tcp@c:1", "weight=3")]);
        assert!(watch.refresh());
        assert_eq!(watch.current()[0].weight(), 3);
        assert_eq!(
            discovery.watch().current().len(),
            1,
            "a new watch starts from the newest list"
        );
    }
}

//! [`Alias`]: serve a service path and method under other names (rpcx-go's `AliasPlugin`).

use std::collections::HashMap;

use super::{Incoming, Plugin, Refusal};

/// Rewrites `alias_path.alias_method` to `service_path.service_method` before the handler is
/// looked up, so old clients reach a renamed method. The handler's `Request` still shows
/// the names the client sent; replies are unchanged (rpcx replies carry the request's names).
#[derive(Debug, Default, Clone)]
pub struct Alias {
    names: HashMap<String, HashMap<String, (String, String)>>,
}

impl Alias {
    /// No aliases yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `service_path.service_method` under `alias_path.alias_method` too.
    #[must_use]
    pub fn alias(
        mut self,
        alias_path: &str,
        alias_method: &str,
        service_path: &str,
        service_method: &str,
    ) -> Self {
        self.names.entry(alias_path.to_owned()).or_default().insert(
            alias_method.to_owned(),
            (service_path.to_owned(), service_method.to_owned()),
        );
        self
    }
}

impl Plugin for Alias {
    fn before_handle<'a>(&'a self, request: &mut Incoming<'a>) -> Result<(), Refusal> {
        let target = self
            .names
            .get(request.service_path())
            .and_then(|methods| methods.get(request.service_method()));
        if let Some((service_path, service_method)) = target {
            request.rewrite(service_path, service_method);
        }
        Ok(())
    }
}

//! The handlers of one shard, by `service_path` and `service_method`, and the auth hook.
//!
//! A [`crate::Server`] runs its setup function once on every shard thread, so each shard
//! builds its own `Services`: handler state is shard-local and may be `!Send`.

use std::collections::HashMap;
use std::rc::Rc;

use ringrpc_codec::Frame;

use crate::handler::Handler;
use crate::inflight::{ErasedHandler, Registered};

/// The auth hook: given the request and its `__AUTH` token (empty if absent), accept it or
/// return the error text the client receives before its connection is closed
/// (PROTOCOL.md §4.3). Heartbeats skip it.
pub type AuthFn = dyn Fn(&Frame, &str) -> Result<(), String>;

/// Handlers of one shard, looked up as rpcx-go looks them up (service first, then method,
/// both case-sensitive).
#[derive(Default)]
pub struct Services {
    shard: usize,
    services: HashMap<String, HashMap<String, Rc<dyn ErasedHandler>>>,
    auth: Option<Box<AuthFn>>,
}

/// What a lookup found.
pub(crate) enum Lookup<'a> {
    Found(&'a Rc<dyn ErasedHandler>),
    NoService,
    NoMethod,
}

impl Services {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn for_shard(shard: usize) -> Self {
        Self {
            shard,
            ..Self::default()
        }
    }

    /// The index of the shard this table serves (0 outside a server).
    pub fn shard(&self) -> usize {
        self.shard
    }

    /// Registers `handler` for `service_path.service_method`, replacing any earlier one.
    pub fn register<H: Handler>(
        &mut self,
        service_path: &str,
        service_method: &str,
        handler: H,
    ) -> &mut Self {
        self.services
            .entry(service_path.to_owned())
            .or_default()
            .insert(service_method.to_owned(), Rc::new(Registered::new(handler)));
        self
    }

    /// Requires every non-heartbeat request to pass `auth` (rpcx-go's `Server.AuthFunc`).
    pub fn set_auth(
        &mut self,
        auth: impl Fn(&Frame, &str) -> Result<(), String> + 'static,
    ) -> &mut Self {
        self.auth = Some(Box::new(auth));
        self
    }

    pub(crate) fn auth(&self) -> Option<&AuthFn> {
        self.auth.as_deref()
    }

    pub(crate) fn lookup(&self, service_path: &str, service_method: &str) -> Lookup<'_> {
        let Some(methods) = self.services.get(service_path) else {
            return Lookup::NoService;
        };
        match methods.get(service_method) {
            Some(handler) => Lookup::Found(handler),
            None => Lookup::NoMethod,
        }
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<String> = self
            .services
            .iter()
            .flat_map(|(s, methods)| methods.keys().map(move |m| format!("{s}.{m}")))
            .collect();
        names.sort();
        f.debug_struct("Services")
            .field("shard", &self.shard)
            .field("methods", &names)
            .field("auth", &self.auth.is_some())
            .finish()
    }
}

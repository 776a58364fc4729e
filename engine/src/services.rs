//! The handlers of one shard, by `service_path` and `service_method`, the auth hook and the
//! shard's plugins (`crate::plugin`).
//!
//! A [`crate::Server`] runs its setup function once on every shard thread, so each shard
//! builds its own `Services`: handler state is shard-local and may be `!Send`.
//!
//! A service is registered in one expression, its methods chained on [`Services::service`]:
//!
//! ```
//! use ringrpc_engine::{HandlerError, Request, Response, Services};
//!
//! async fn echo(request: Request) -> Result<Response, HandlerError> {
//!     Ok(Response::new(request.into_payload()))
//! }
//!
//! let mut services = Services::new();
//! services.service("Echo").method("Echo", echo).method("Say", echo);
//! services.service("Mirror").method("Echo", echo);
//! assert_eq!(services.service_paths(), ["Echo", "Mirror"]);
//! ```

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};

use ringrpc_codec::Frame;

use crate::handler::Handler;
use crate::http::HttpRoute;
use crate::inflight::{ErasedHandler, Registered};
use crate::plugin::{Plugin, Plugins};

/// The auth hook: given the request and its `__AUTH` token (empty if absent), accept it or
/// return the error text the client receives before its connection is closed
/// (PROTOCOL.md §4.3). Heartbeats skip it.
pub type AuthFn = dyn Fn(&Frame, &str) -> Result<(), String>;

/// Handlers of one shard, looked up as rpcx-go looks them up (service first, then method,
/// both case-sensitive).
///
/// The table is a list per level, searched in order and compared as bytes: a shard serves a
/// few names, for which comparing lengths and bytes beats hashing (no DoS-resistant hash of
/// every name of every request), and the names a request carries need no UTF-8 check to be
/// found: a registered name is a `str`, so bytes equal to it are valid UTF-8.
#[derive(Default)]
pub struct Services {
    shard: usize,
    services: Vec<Service>,
    auth: Option<Box<AuthFn>>,
    http_routes: Vec<Box<dyn HttpRoute>>,
    plugins: Plugins,
}

/// One registered service and its methods.
struct Service {
    service_path: Rc<str>,
    methods: Vec<Rc<Route>>,
}

/// Where a request goes: its handler, and the names it was registered under (equal, byte
/// for byte, to the names of every request routed to it, so a reply can echo them from here).
pub(crate) struct Route {
    pub(crate) service_path: Rc<str>,
    pub(crate) service_method: Box<str>,
    pub(crate) handler: Box<dyn ErasedHandler>,
}

/// What a lookup found.
pub(crate) enum Lookup<'a> {
    Found(&'a Rc<Route>),
    NoService,
    NoMethod,
}

/// One service of a [`Services`] table, from [`Services::service`]: chain
/// [`ServiceBuilder::method`] to register its methods.
pub struct ServiceBuilder<'a> {
    services: &'a mut Services,
    service_path: String,
}

impl ServiceBuilder<'_> {
    /// Registers `handler` for `service_method` of this service, replacing any earlier one.
    pub fn method<H: Handler>(self, service_method: &str, handler: H) -> Self {
        let services = &mut self.services.services;
        let at = match services
            .iter()
            .position(|s| *s.service_path == *self.service_path)
        {
            Some(at) => at,
            None => {
                services.push(Service {
                    service_path: Rc::from(self.service_path.as_str()),
                    methods: Vec::new(),
                });
                services.len() - 1
            }
        };
        let service = &mut services[at];
        let route = Rc::new(Route {
            service_path: service.service_path.clone(),
            service_method: service_method.into(),
            handler: Box::new(Registered::new(handler)),
        });
        match service
            .methods
            .iter_mut()
            .find(|m| *m.service_method == *service_method)
        {
            Some(old) => *old = route,
            None => service.methods.push(route),
        }
        self
    }
}

impl Services {
    /// An empty table (outside a server, e.g. for a test of the connection core).
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn for_shard(shard: usize) -> Self {
        Self {
            shard,
            plugins: Plugins::for_shard(shard),
            ..Self::default()
        }
    }

    /// The index of the shard this table serves (0 outside a server).
    pub fn shard(&self) -> usize {
        self.shard
    }

    /// The service `service_path`, to register its methods on:
    /// `services.service("Arith").method("Mul", mul).method("Add", add)`.
    #[must_use = "a service without methods is not registered"]
    pub fn service(&mut self, service_path: &str) -> ServiceBuilder<'_> {
        ServiceBuilder {
            services: self,
            service_path: service_path.to_owned(),
        }
    }

    /// Registers `handler` for `service_path.service_method`, replacing any earlier one: one
    /// method, where [`Self::service`] registers several.
    pub fn register<H: Handler>(
        &mut self,
        service_path: &str,
        service_method: &str,
        handler: H,
    ) -> &mut Self {
        self.service(service_path).method(service_method, handler);
        self
    }

    /// The registered service paths, sorted: what a registry announces
    /// (`registry::Registration`).
    pub fn service_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .services
            .iter()
            .map(|s| s.service_path.to_string())
            .collect();
        paths.sort();
        paths
    }

    /// Requires every non-heartbeat request to pass `auth` (rpcx-go's `Server.AuthFunc`).
    pub fn set_auth(
        &mut self,
        auth: impl Fn(&Frame, &str) -> Result<(), String> + 'static,
    ) -> &mut Self {
        self.auth = Some(Box::new(auth));
        self
    }

    /// Adds a plugin to this shard, called after the ones registered before it (see
    /// `crate::plugin` for the hooks and their order).
    pub fn plugin(&mut self, plugin: impl Plugin + 'static) -> &mut Self {
        self.plugins.push(Box::new(plugin));
        self
    }

    /// Times plugin hooks with `clock` instead of `Instant::now` (tests drive time by hand).
    pub fn set_plugin_clock(&mut self, clock: fn() -> std::time::Instant) -> &mut Self {
        self.plugins.set_clock(clock);
        self
    }

    /// The shard's plugins, in registration order.
    pub fn plugins(&self) -> &Plugins {
        &self.plugins
    }

    pub(crate) fn auth(&self) -> Option<&AuthFn> {
        self.auth.as_deref()
    }

    /// Adds an HTTP endpoint of one's own on the rpcx port ([`HttpRoute`]); routes are
    /// tried in the order added, after the gateway and JSON-RPC.
    pub fn add_http_route(&mut self, route: impl HttpRoute + 'static) -> &mut Self {
        self.http_routes.push(Box::new(route));
        self
    }

    pub(crate) fn http_routes(&self) -> &[Box<dyn HttpRoute>] {
        &self.http_routes
    }

    /// The route of `service_path.service_method`, names given as they arrived (bytes).
    pub(crate) fn lookup(&self, service_path: &[u8], service_method: &[u8]) -> Lookup<'_> {
        let Some(service) = self
            .services
            .iter()
            .find(|s| s.service_path.as_bytes() == service_path)
        else {
            return Lookup::NoService;
        };
        match service
            .methods
            .iter()
            .find(|m| m.service_method.as_bytes() == service_method)
        {
            Some(route) => Lookup::Found(route),
            None => Lookup::NoMethod,
        }
    }
}

/// The service paths of every shard's table, gathered while the shards run their setup, so
/// a [`crate::Server`] can say what it serves without a hand-kept list.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServicePaths(Arc<Mutex<BTreeSet<String>>>);

impl ServicePaths {
    /// `setup`, also adding the service paths it registered on each shard to `self`.
    pub(crate) fn recording<F>(&self, setup: F) -> impl Fn(&mut Services) + Send + Sync + 'static
    where
        F: Fn(&mut Services) + Send + Sync + 'static,
    {
        let paths = self.clone();
        move |services: &mut Services| {
            setup(services);
            let mut all = paths.0.lock().unwrap_or_else(PoisonError::into_inner);
            all.extend(services.service_paths());
        }
    }

    /// Every path recorded so far, sorted.
    pub(crate) fn to_vec(&self) -> Vec<String> {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.iter().cloned().collect()
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<String> = self
            .services
            .iter()
            .flat_map(|s| s.methods.iter())
            .map(|m| format!("{}.{}", m.service_path, m.service_method))
            .collect();
        names.sort();
        f.debug_struct("Services")
            .field("shard", &self.shard)
            .field("methods", &names)
            .field("auth", &self.auth.is_some())
            .field("http_routes", &self.http_routes.len())
            .field("plugins", &self.plugins.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HandlerError, Request, Response};

    async fn reply(_: Request) -> Result<Response, HandlerError> {
        Ok(Response::new(bytes::Bytes::new()))
    }

    fn found(services: &Services, service_path: &str, service_method: &str) -> &'static str {
        match services.lookup(service_path.as_bytes(), service_method.as_bytes()) {
            Lookup::Found(_) => "found",
            Lookup::NoService => "no service",
            Lookup::NoMethod => "no method",
        }
    }

    #[test]
    fn a_service_and_its_methods_register_in_one_expression() {
        let mut services = Services::new();
        services
            .service("Arith")
            .method("Mul", reply)
            .method("Add", reply);
        services.register("Echo", "Echo", reply);
        assert_eq!(found(&services, "Arith", "Mul"), "found");
        assert_eq!(found(&services, "Arith", "Add"), "found");
        assert_eq!(found(&services, "Echo", "Echo"), "found");
        assert_eq!(found(&services, "Arith", "Div"), "no method");
        assert_eq!(found(&services, "arith", "Mul"), "no service");
        assert_eq!(services.service_paths(), ["Arith", "Echo"]);
    }

    #[test]
    fn names_are_matched_as_bytes_and_registering_again_replaces() {
        let mut services = Services::new();
        services.register("Echo", "Echo", reply);
        services.register("Echo", "Echo", reply);
        services.register("Echo", "Say", reply);
        assert_eq!(format!("{services:?}").matches("Echo.Echo").count(), 1);
        let Lookup::Found(route) = services.lookup(b"Echo", b"Say") else {
            panic!("Echo.Say is registered");
        };
        assert_eq!(
            (&*route.service_path, &*route.service_method),
            ("Echo", "Say")
        );
        // Bytes that are no UTF-8 are simply not found: no name can equal them.
        assert!(matches!(
            services.lookup(b"Ech\xff", b"Echo"),
            Lookup::NoService
        ));
        assert!(matches!(
            services.lookup(b"Echo", b"\xffSay"),
            Lookup::NoMethod
        ));
        assert!(matches!(services.lookup(b"Echo", b"Sa"), Lookup::NoMethod));
    }

    #[test]
    fn recorded_service_paths_are_the_union_of_every_shard() {
        let paths = ServicePaths::default();
        let setup = paths.recording(|services: &mut Services| {
            services.service("Common").method("Ping", reply);
            if services.shard() == 1 {
                services.service("OnlyOnOne").method("Ping", reply);
            }
        });
        for shard in 0..2 {
            setup(&mut Services::for_shard(shard));
        }
        assert_eq!(paths.to_vec(), ["Common", "OnlyOnOne"]);
    }
}

//! An in-memory XClient transport on tokio's paused clock, whose servers refuse, drop,
//! stall, answer late or answer with errors on cue, and which counts dials, calls and the
//! connections still alive.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::Instant as VirtualInstant;

use ringrpc_client::select::Instance;
use ringrpc_client::xclient::Transport;
use ringrpc_client::{Disconnect, Error, Request};

/// How an in-memory server behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    Answer,
    /// Connects are refused and open connections break.
    Down,
    /// Calls never answer.
    Stall,
    /// A partition: dials never complete and calls never answer.
    Silent,
    /// Calls answer with a service error.
    ServiceError,
    /// Calls answer after this long.
    Slow(Duration),
}

#[derive(Default)]
pub struct Servers {
    pub behaviour: RefCell<HashMap<String, Behaviour>>,
    pub connects: RefCell<HashMap<String, usize>>,
    pub calls: RefCell<HashMap<String, usize>>,
    /// Connections made and not yet dropped by the XClient.
    pub live_conns: Rc<Cell<usize>>,
}

impl Servers {
    pub fn set(&self, key: &str, behaviour: Behaviour) {
        self.behaviour
            .borrow_mut()
            .insert(key.to_owned(), behaviour);
    }
    pub fn behaviour(&self, key: &str) -> Behaviour {
        self.behaviour
            .borrow()
            .get(key)
            .copied()
            .unwrap_or(Behaviour::Answer)
    }
    pub fn calls(&self, key: &str) -> usize {
        self.calls.borrow().get(key).copied().unwrap_or(0)
    }
    pub fn connects(&self, key: &str) -> usize {
        self.connects.borrow().get(key).copied().unwrap_or(0)
    }
    /// Dials to every server.
    pub fn connects_total(&self) -> usize {
        self.connects.borrow().values().sum()
    }
    /// Calls to every server.
    pub fn calls_total(&self) -> usize {
        self.calls.borrow().values().sum()
    }
}

pub struct Conn {
    key: String,
    open: Cell<bool>,
    live: Rc<Cell<usize>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.live.set(self.live.get() - 1);
    }
}

#[derive(Clone, Default)]
pub struct Memory(pub Rc<Servers>);

impl Transport for Memory {
    type Conn = Rc<Conn>;
    type Reply = String;
    type Error = Error;

    async fn connect(&self, server: &Instance) -> Result<Rc<Conn>, Error> {
        // Let concurrent calls overlap with this dial.
        tokio::task::yield_now().await;
        *self
            .0
            .connects
            .borrow_mut()
            .entry(server.key().to_owned())
            .or_default() += 1;
        if self.0.behaviour(server.key()) == Behaviour::Silent {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            unreachable!("a silent dial is dropped before it returns")
        }
        if self.0.behaviour(server.key()) == Behaviour::Down {
            let cause = Arc::new(io::Error::from(io::ErrorKind::ConnectionRefused));
            return Err(Error::Connect {
                addr: server.key().to_owned(),
                cause,
            });
        }
        self.0.live_conns.set(self.0.live_conns.get() + 1);
        Ok(Rc::new(Conn {
            key: server.key().to_owned(),
            open: Cell::new(true),
            live: self.0.live_conns.clone(),
        }))
    }

    async fn send(&self, conn: &Rc<Conn>, request: &Request<'_>) -> Result<String, Error> {
        *self
            .0
            .calls
            .borrow_mut()
            .entry(conn.key.clone())
            .or_default() += 1;
        assert_eq!(request.service_path, "Arith");
        match self.0.behaviour(&conn.key) {
            Behaviour::Answer => Ok(conn.key.clone()),
            Behaviour::Down => {
                conn.open.set(false);
                Err(Error::Disconnected(Disconnect::Eof))
            }
            Behaviour::Stall | Behaviour::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                unreachable!("a stalled call is dropped before it returns")
            }
            Behaviour::ServiceError => Err(Error::Service {
                message: "rpcx: can't find method".into(),
            }),
            Behaviour::Slow(latency) => {
                tokio::time::sleep(latency).await;
                Ok(conn.key.clone())
            }
        }
    }

    fn is_usable(&self, conn: &Rc<Conn>) -> bool {
        conn.open.get()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn now(&self) -> Instant {
        VirtualInstant::now().into_std()
    }
}

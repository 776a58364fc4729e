//! Server-initiated messages (PROTOCOL.md §4.14), rpcx-go's `Server.SendMessage`.
//!
//! A push is a Request frame with oneway set, serialize type None, compress None and a seq of
//! its own. The Go client recognises pushes by exactly (type Request, heartbeat 0, oneway 1),
//! and clients never answer them. The seq counter starts at 1 and is shared by all
//! connections of a shard (rpcx-go shares one per process; seqs of pushes are only required
//! to be independent of client seqs).

use std::rc::Rc;

use futures_lite::future::poll_fn;

use crate::conn::Link;
use crate::error::PushError;

/// Sends pushes on one connection. Obtained from [`crate::Request::pusher`]; it may outlive
/// the request (pushes fail with [`PushError::Closed`] once the connection is gone).
#[derive(Clone)]
pub struct Pusher {
    link: Rc<Link>,
}

impl Pusher {
    pub(crate) fn new(link: Rc<Link>) -> Self {
        Self { link }
    }

    /// Queues one push. Pushes and replies leave in the order they were produced, so pushes
    /// made by a handler reach the client before that handler's reply. Waits while the
    /// connection holds more unsent output than `ServerConfig::push_buffer_max_bytes`,
    /// counting every byte the kernel has not taken (queued pushes, replies, a send in
    /// progress), so a client that never reads holds at most that plus one push.
    pub async fn push<K, V>(
        &self,
        service_path: &str,
        service_method: &str,
        metadata: impl IntoIterator<Item = (K, V)>,
        payload: &[u8],
    ) -> Result<(), PushError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut waited = false;
        poll_fn(|cx| {
            let room = self.link.poll_push_room(cx);
            if room.is_pending() && !std::mem::replace(&mut waited, true) {
                self.link.bounds().stats().pushes.count_wait();
            }
            room
        })
        .await?;
        self.link
            .push(service_path, service_method, metadata, payload)
    }

    /// Whether the connection has closed (every later push fails with `PushError::Closed`).
    pub fn is_closed(&self) -> bool {
        self.link.is_closed()
    }
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("peer", &self.link.peer_addr())
            .finish()
    }
}

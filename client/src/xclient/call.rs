//! One XClient call as the fail loops in [`crate::fail`] drive it: the prepared request,
//! and [`Attempts`] over the XClient's pick and attempt.

use std::time::{Duration, Instant};

use super::{Transport, XClient, XError};
use crate::fail::Attempts;
use crate::{CallOptions, Request, SerializeType};

/// A call's request parts, its consistent-hash key and its deadline.
pub(super) struct Prepared<'a> {
    pub(super) service_path: &'a str,
    pub(super) method: &'a str,
    pub(super) payload: &'a [u8],
    pub(super) options: &'a CallOptions,
    pub(super) serialize_type: Option<SerializeType>,
    pub(super) hash: u64,
    /// Bounds every attempt of the call.
    pub(super) deadline: Option<Instant>,
}

impl<'a> Prepared<'a> {
    pub(super) fn request(&self) -> Request<'a> {
        Request {
            service_path: self.service_path,
            service_method: self.method,
            metadata: &self.options.metadata,
            payload: self.payload,
            serialize_type: self.serialize_type,
            compress: self.options.compress,
            deadline: self.deadline,
        }
    }
}

/// One call in flight: what the fail loops drive.
pub(super) struct Call<'a, T: Transport> {
    pub(super) client: &'a XClient<T>,
    pub(super) request: Request<'a>,
    pub(super) hash: u64,
}

impl<T: Transport> Attempts for Call<'_, T> {
    type Server = String;
    type Reply = T::Reply;
    type Error = XError<T::Error>;

    fn pick(&self, avoid: &[String]) -> Result<String, Self::Error> {
        self.client.pick(avoid, self.hash)
    }

    async fn attempt(&self, server: String) -> Result<T::Reply, Self::Error> {
        self.client.attempt(server, &self.request).await
    }

    async fn sleep(&self, duration: Duration) {
        self.client.transport.sleep(duration).await;
    }
}

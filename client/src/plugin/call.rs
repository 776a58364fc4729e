//! The call hooks as the client runs them around one call: the span, `before_call` in
//! registration order (the first refusal stops the rest), then `after_call` for every
//! plugin, both inside the call's span.

use std::time::Duration;

use tracing::Span;

use super::{CallOutcome, OutgoingCall, Plugins};
use crate::error::Error;
use crate::message::Reply;

/// A call between its two hooks.
pub(crate) struct CallHooks<'p> {
    plugins: &'p Plugins,
    /// The span the call runs in (`Span::none()` when no plugin gave one).
    pub(crate) span: Span,
}

impl Plugins {
    /// Opens the call's span and runs `before_call`; an `Err` is the refusal to report.
    pub(crate) fn before_call(
        &self,
        call: &mut OutgoingCall<'_>,
    ) -> (CallHooks<'_>, Result<(), Error>) {
        let span = self
            .iter()
            .find_map(|p| p.call_span(call))
            .unwrap_or_else(Span::none);
        let result = span.in_scope(|| {
            self.iter()
                .try_for_each(|p| p.before_call(call))
                .map_err(Error::refused)
        });
        let hooks = CallHooks {
            plugins: self,
            span,
        };
        (hooks, result)
    }
}

impl CallHooks<'_> {
    /// Runs `after_call` of every plugin with how the call ended.
    pub(crate) fn after_call(
        &self,
        call: &OutgoingCall<'_>,
        result: Result<Option<&Reply>, &Error>,
        duration: Duration,
    ) {
        let outcome = CallOutcome::new(result, duration);
        self.span.in_scope(|| {
            self.plugins
                .iter()
                .for_each(|p| p.after_call(call, &outcome));
        });
    }
}

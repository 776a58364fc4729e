//! The registry's live state as `/status` shows it (`registry`), from the registrar's
//! [`RegistryWatch`] ([`crate::Server::show_registry`]); ages are computed at `now`.

use std::time::Instant;

use serde_json::{json, Value};

use crate::registry::RegistryStatus;

/// `status` as JSON, its instants given as seconds before `now`.
pub(crate) fn to_json(status: &RegistryStatus, now: Instant) -> Value {
    let ago = |at: Option<Instant>| at.map(|at| now.saturating_duration_since(at).as_secs_f64());
    let (last_error, last_error_s_ago) = match &status.last_error {
        Some((error, at)) => (Some(error.as_str()), ago(Some(*at))),
        None => (None, None),
    };
    json!({
        "state": status.phase.as_str(),
        "registry": status.registry,
        "service_address": status.service_address,
        "lease_id": status.lease_id.map(|id| format!("{id:x}")),
        "lease_ttl_s": status.lease_ttl.map(|ttl| ttl.as_secs()),
        "registered_s_ago": ago(status.registered_at),
        "confirmed_s_ago": ago(status.confirmed_at),
        "registrations": status.registrations,
        "last_error": last_error,
        "last_error_s_ago": last_error_s_ago,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::registry::RegistryPhase;

    #[test]
    fn ages_are_seconds_before_now() {
        let t0 = Instant::now();
        let status = RegistryStatus {
            phase: RegistryPhase::Registered,
            lease_id: Some(255),
            registered_at: Some(t0),
            last_error: Some(("etcd unreachable".into(), t0)),
            ..RegistryStatus::default()
        };
        let json = to_json(&status, t0 + Duration::from_secs(3));
        assert_eq!(json["state"], "registered");
        assert_eq!(json["lease_id"], "ff");
        assert_eq!(json["registered_s_ago"], 3.0);
        assert_eq!(json["last_error"], "etcd unreachable");
        assert_eq!(json["confirmed_s_ago"], Value::Null);
    }
}

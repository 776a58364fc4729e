//! The node selection hooks as the XClient runs them around its select mode: candidates
//! a plugin may exclude before the pick, and an override after it.

use super::Plugins;
use crate::select::Instance;

/// The servers an XClient attempt may go to, as the selection hooks see them.
#[derive(Debug)]
pub struct Candidates<'a> {
    service_path: &'a str,
    instances: &'a [Instance],
    excluded: &'a mut [bool],
    key: u64,
}

impl<'a> Candidates<'a> {
    pub(crate) fn new(
        service_path: &'a str,
        instances: &'a [Instance],
        excluded: &'a mut [bool],
        key: u64,
    ) -> Self {
        debug_assert_eq!(instances.len(), excluded.len(), "one flag per instance");
        Self {
            service_path,
            instances,
            excluded,
            key,
        }
    }

    /// The service the XClient calls.
    pub fn service_path(&self) -> &str {
        self.service_path
    }

    /// Every listed server, sorted by key (excluded ones too).
    pub fn instances(&self) -> &[Instance] {
        self.instances
    }

    /// Whether `index` may be picked (listed, not behind an open breaker, not failed
    /// already during this call, not excluded by a plugin).
    pub fn is_allowed(&self, index: usize) -> bool {
        self.excluded.get(index) == Some(&false)
    }

    /// Excludes `index` from this attempt.
    pub fn exclude(&mut self, index: usize) {
        if let Some(flag) = self.excluded.get_mut(index) {
            *flag = true;
        }
    }

    /// The call's hash key (what consistent hashing uses).
    pub fn key(&self) -> u64 {
        self.key
    }

    /// The exclusion flags, one per instance.
    pub(crate) fn excluded(&self) -> &[bool] {
        self.excluded
    }
}

impl Plugins {
    /// Runs `before_select` of every plugin.
    pub(crate) fn before_select(&self, candidates: &mut Candidates<'_>) {
        self.iter().for_each(|p| p.before_select(candidates));
    }

    /// Runs `after_select` of every plugin; an override to a candidate that may not be
    /// picked is ignored.
    pub(crate) fn after_select(&self, candidates: &Candidates<'_>, picked: usize) -> usize {
        self.iter().fold(picked, |picked, plugin| {
            let mut choice = picked;
            plugin.after_select(candidates, &mut choice);
            if candidates.is_allowed(choice) {
                choice
            } else {
                tracing::warn!(
                    plugin = plugin.name(),
                    choice,
                    "select override names a server that may not be picked; ignored"
                );
                picked
            }
        })
    }
}

//! What collections find, folded into the few numbers the exporter serves: one module per ADS
//! operation, no AWS types beyond the SDK's records, and never a record kept longer than its
//! collection (but for what [`export_tasks::Lifecycle`] needs).

pub mod agents;
pub mod continuous_exports;
pub mod discovery_summary;
pub mod export_tasks;
pub mod import_tasks;
pub mod status;

use std::collections::HashSet;

/// What one successful collection of one collector found.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    ExportTasks(export_tasks::ExportTasks),
    ContinuousExports(continuous_exports::ContinuousExports),
    ImportTasks(import_tasks::ImportTasks),
    DiscoverySummary(discovery_summary::DiscoverySummary),
    Agents(agents::Agents),
}

impl Data {
    /// Pages (or calls) the collection read.
    pub fn pages(&self) -> u64 {
        match self {
            Data::ExportTasks(d) => d.pages,
            Data::ContinuousExports(d) => d.pages,
            Data::ImportTasks(d) => d.pages,
            Data::DiscoverySummary(_) => 1,
            Data::Agents(d) => d.pages,
        }
    }

    /// How many things it found, for the log.
    pub fn total(&self) -> u64 {
        match self {
            Data::ExportTasks(d) => d.total(),
            Data::ContinuousExports(d) => d.total(),
            Data::ImportTasks(d) => d.total(),
            Data::DiscoverySummary(d) => d.servers,
            Data::Agents(d) => d.total(),
        }
    }
}

/// An id as the exporter remembers it: 8 bytes instead of a string. Two of the few thousand ids
/// held at once colliding is about as likely as 1 in 10^12; the worst it could do is miss one
/// item.
pub fn fingerprint(id: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(id)
}

/// The ids one listing has shown, so that an item listed twice counts once: offset paging shows
/// an item again at the top of the next page when another is added in front of it during paging.
/// [`Repeats::whole`] remembers every id of the listing (the pipeline's few items);
/// [`Repeats::pages`] only those of the current and the previous page, where such a repeat
/// lands, so that memory does not grow with an account's export history.
#[derive(Debug, Default)]
pub struct Repeats {
    current: HashSet<u64>,
    previous: HashSet<u64>,
    window: bool,
}

impl Repeats {
    /// Remembers every id of the listing.
    pub fn whole() -> Repeats {
        Repeats::default()
    }

    /// Remembers the ids of the current and the previous page.
    pub fn pages() -> Repeats {
        Repeats { window: true, ..Repeats::default() }
    }

    /// A new page begins.
    pub fn next_page(&mut self) {
        if self.window {
            self.previous = std::mem::take(&mut self.current);
        }
    }

    /// Whether this is the first time the listing shows `id` (as far as it remembers).
    pub fn first(&mut self, id: &str) -> bool {
        let id = fingerprint(id);
        !self.previous.contains(&id) && self.current.insert(id)
    }
}

#[cfg(test)]
mod tests {
    use super::Repeats;

    #[test]
    fn repeats_are_seen_once() {
        let mut whole = Repeats::whole();
        let mut pages = Repeats::pages();
        for repeats in [&mut whole, &mut pages] {
            assert!(repeats.first("a"));
            assert!(!repeats.first("a"), "the same page");
            repeats.next_page();
            assert!(!repeats.first("a"), "the top of the next page");
            assert!(repeats.first("b"));
            repeats.next_page();
        }
        assert!(!whole.first("a"), "every id of the listing");
        assert!(pages.first("a"), "two pages back is out of the window");
    }
}

//! What collections find, folded into the few numbers the exporter serves: one module per ADS
//! operation, no AWS types beyond the SDK's records, and never a record kept longer than its
//! collection (but for what [`export_tasks::Lifecycle`] needs).

pub mod agents;
pub mod continuous_exports;
pub mod discovery_summary;
pub mod export_tasks;
pub mod import_tasks;
pub mod status;

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

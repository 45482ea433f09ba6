//! The export-tasks collector: every page of `DescribeExportTasks` (with the target's filters),
//! folded into counts by status and the lifecycle of completions.

use aws_sdk_applicationdiscovery::Client;
use aws_sdk_applicationdiscovery::types::ExportFilter;

use super::read_pages;
use crate::clock::unix_now;
use crate::data::Repeats;
use crate::data::export_tasks::{ExportTasks, Lifecycle, tasks_of};
use crate::error::CollectionError;
use crate::target::{Kind, Unit};

pub async fn collect(ads: &Client, unit: &Unit, lifecycle: &mut Lifecycle) -> Result<ExportTasks, CollectionError> {
    let operation = Kind::ExportTasks.operation();
    let spec = &unit.spec;
    let filters = if spec.filters.agent_ids.is_empty() {
        None
    } else {
        let filter = ExportFilter::builder()
            .name("agentIds")
            .set_values(Some(spec.filters.agent_ids.clone()))
            .condition("EQUALS")
            .build()
            .map_err(|e| CollectionError::Request { operation, detail: e.to_string() })?;
        Some(vec![filter])
    };
    let export_ids = (!spec.filters.export_ids.is_empty()).then(|| spec.filters.export_ids.clone());
    let stream = ads
        .describe_export_tasks()
        .max_results(spec.settings.page_size)
        .set_export_ids(export_ids)
        .set_filters(filters)
        .into_paginator()
        .send();
    let mut tasks = ExportTasks::default();
    let mut pass = lifecycle.pass(unix_now());
    // Export histories can be long: repeats are looked for where offset paging puts them.
    let mut repeats = Repeats::pages();
    tasks.pages = read_pages(operation, &unit.api, stream, |page| {
        repeats.next_page();
        for task in tasks_of(page.exports_info())? {
            if repeats.first(task.id) {
                tasks.add(&task);
                lifecycle.see(&mut pass, &task);
            }
        }
        Ok(page.next_token().map(str::to_owned))
    })
    .await?;
    tasks.lifecycle = lifecycle.commit(pass, unix_now());
    Ok(tasks)
}

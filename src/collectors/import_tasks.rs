//! The import-tasks collector: every page of `DescribeImportTasks`.

use aws_sdk_applicationdiscovery::Client;

use super::read_pages;
use crate::data::Repeats;
use crate::data::import_tasks::{ImportTask, ImportTasks};
use crate::data::status::present;
use crate::error::CollectionError;
use crate::target::{Kind, Unit};

pub async fn collect(ads: &Client, unit: &Unit) -> Result<ImportTasks, CollectionError> {
    let operation = Kind::ImportTasks.operation();
    let stream = ads.describe_import_tasks().max_results(unit.spec.settings.page_size).into_paginator().send();
    let mut tasks = ImportTasks::default();
    let mut repeats = Repeats::whole();
    tasks.pages = read_pages(operation, &unit.api, stream, |page| {
        let mut found = Vec::with_capacity(page.tasks().len());
        for task in page.tasks() {
            // Import tasks without an id are counted as they come.
            if let Some(id) = task.import_task_id().filter(|id| !id.is_empty())
                && !repeats.first(id)
            {
                continue;
            }
            let status = task.status().map_or("", |s| s.as_str());
            if !present(status) {
                return Err(format!("an import task lacks its status (importTaskId {:?})", task.import_task_id()));
            }
            found.push(ImportTask {
                status,
                request_time: task.import_request_time().map(|t| t.as_secs_f64()).filter(|t| *t > 0.0),
                server_success: task.server_import_success(),
                server_failure: task.server_import_failure(),
                application_success: task.application_import_success(),
                application_failure: task.application_import_failure(),
            });
        }
        found.iter().for_each(|task| tasks.add(task));
        Ok(page.next_token().map(str::to_owned))
    })
    .await?;
    Ok(tasks)
}

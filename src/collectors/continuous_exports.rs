//! The continuous-exports collector: every page of `DescribeContinuousExports`.

use aws_sdk_applicationdiscovery::Client;

use super::read_pages;
use crate::data::Repeats;
use crate::data::continuous_exports::{ContinuousExport, ContinuousExports, detail_code};
use crate::data::status::present;
use crate::error::CollectionError;
use crate::target::{Kind, Unit};

pub async fn collect(ads: &Client, unit: &Unit) -> Result<ContinuousExports, CollectionError> {
    let operation = Kind::ContinuousExports.operation();
    let stream = ads.describe_continuous_exports().max_results(unit.spec.settings.page_size).into_paginator().send();
    let mut exports = ContinuousExports::default();
    let mut repeats = Repeats::whole();
    exports.pages = read_pages(operation, &unit.api, stream, |page| {
        let mut found = Vec::with_capacity(page.descriptions().len());
        for description in page.descriptions() {
            let status = description.status().map_or("", |s| s.as_str());
            let id = description.export_id().unwrap_or_default();
            if id.is_empty() || !present(status) {
                return Err(format!("a continuous export lacks its id or status (exportId {id:?}, status {status:?})"));
            }
            found.push(ContinuousExport {
                id: id.to_owned(),
                status: status.to_owned(),
                status_detail: detail_code(description.status_detail().unwrap_or_default()),
                data_source: description.data_source().map_or("", |d| d.as_str()).to_owned(),
                s3_bucket: description.s3_bucket().unwrap_or_default().to_owned(),
                start_time: description.start_time().map(|t| t.as_secs_f64()),
            });
        }
        found.into_iter().filter(|export| repeats.first(&export.id)).for_each(|export| exports.add(export));
        Ok(page.next_token().map(str::to_owned))
    })
    .await?;
    Ok(exports)
}

use ::diesel::prelude::*;
use async_trait::async_trait;

use super::{Database, schema::reports};
use crate::storage::{Error, Report, ReportStore};

#[async_trait]
impl ReportStore for Database {
    async fn add_report(&self, report: Report) -> Result<(), Error> {
        self.write(move |conn| {
            diesel::insert_into(reports::table)
                .values((
                    reports::reporter.eq(&report.reporter),
                    reports::room_id.eq(&report.room_id),
                    reports::event_id.eq(&report.event_id),
                    reports::user_id.eq(&report.user_id),
                    reports::reason.eq(&report.reason),
                    reports::ts.eq(report.ts),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn reports(&self) -> Result<Vec<Report>, Error> {
        type Row = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
            i64,
        );
        let rows: Vec<Row> = self
            .read(|conn| {
                reports::table
                    .order(reports::id.asc())
                    .select((
                        reports::reporter,
                        reports::room_id,
                        reports::event_id,
                        reports::user_id,
                        reports::reason,
                        reports::ts,
                    ))
                    .load(conn)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(reporter, room_id, event_id, user_id, reason, ts)| Report {
                    reporter,
                    room_id,
                    event_id,
                    user_id,
                    reason,
                    ts,
                },
            )
            .collect())
    }
}

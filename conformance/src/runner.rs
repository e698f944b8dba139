//! Runs cases against a server and collects their outcomes.

use std::collections::BTreeSet;

use futures_util::{StreamExt as _, stream};
use serde::Serialize;

use crate::{
    case::{Case, CaseError},
    client::Ctx,
    deviations,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub name: &'static str,
    pub section: &'static str,
    pub operation: Option<(&'static str, &'static str)>,
    pub outcome: Outcome,
    pub message: Option<String>,
    /// For a failure: the server deviation the suite knows this case to meet
    /// ([`crate::deviations`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_deviation: Option<String>,
    /// Spec operations the case's requests went through.
    pub exercised: BTreeSet<(String, String)>,
}

/// Runs one case with its own context.
pub async fn run_case(case: &Case, ctx: &Ctx) -> CaseReport {
    let ctx = ctx.for_case();
    let result = (case.run)(ctx.clone()).await;
    let (outcome, message) = match result {
        Ok(()) => (Outcome::Pass, None),
        Err(CaseError::Skip(reason)) => (Outcome::Skip, Some(reason)),
        Err(CaseError::Fail(reason)) => (Outcome::Fail, Some(reason)),
    };
    let mut exercised = ctx.exercised();
    if let Some((method, path)) = case.operation {
        exercised.insert((method.to_owned(), path.to_owned()));
    }
    let known_deviation = match outcome {
        Outcome::Fail => deviations::known(case.name).map(|d| format!("{}: {}", d.server, d.what)),
        _ => None,
    };
    CaseReport {
        name: case.name,
        section: case.section,
        operation: case.operation,
        outcome,
        message,
        known_deviation,
        exercised,
    }
}

/// Runs cases `concurrency` at a time; reports come back in the cases' order.
pub async fn run_all(cases: &[Case], ctx: &Ctx, concurrency: usize) -> Vec<CaseReport> {
    stream::iter(cases.iter().map(|case| run_case(case, ctx)))
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// Cases whose name contains `pattern` (all when `None`).
pub fn filter_cases(cases: Vec<Case>, pattern: Option<&str>) -> Vec<Case> {
    match pattern {
        Some(p) => cases.into_iter().filter(|c| c.name.contains(p)).collect(),
        None => cases,
    }
}

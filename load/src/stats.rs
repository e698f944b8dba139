//! Latency summaries.

use std::time::Duration;

use serde_json::{Value, json};

/// p50, p99 and max of `samples`, in milliseconds.
pub fn latency_summary(samples: &mut [Duration]) -> Value {
    if samples.is_empty() {
        return json!({ "samples": 0 });
    }
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        ms(samples[index])
    };
    json!({
        "samples": samples.len(),
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "max_ms": ms(samples[samples.len() - 1]),
    })
}

pub fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// Operations per second, rounded to one decimal.
pub fn rate(count: usize, elapsed: Duration) -> f64 {
    let per_second = count as f64 / elapsed.as_secs_f64().max(1e-9);
    (per_second * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_samples() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let summary = latency_summary(&mut samples);
        assert_eq!(summary["p50_ms"], json!(51.0));
        assert_eq!(summary["p99_ms"], json!(99.0));
        assert_eq!(summary["max_ms"], json!(100.0));
        assert_eq!(latency_summary(&mut [])["samples"], json!(0));
    }
}

//! Unit tests of the drill's analysis and report on made-up samples.

use std::time::Duration;

use super::analysis::{Outcome, percentile};
use super::load::{CACHE_HIT, CACHE_MISS, CACHE_OTHER, Kind, Sample};
use super::report::log_summary;
use super::{DrillOptions, Phase, PhaseKind, PhaseSpan, Target};

fn sample(at_ms: u64, latency_ms: u64, status: u16, kind: Kind, cache: u8) -> Sample {
    Sample {
        at: Duration::from_millis(at_ms),
        latency: Duration::from_millis(latency_ms),
        status,
        kind,
        cache,
        retry_after: false,
        json_api: true,
    }
}

fn span(kind: PhaseKind, from_s: u64, to_s: u64) -> PhaseSpan {
    PhaseSpan {
        phase: Phase {
            kind,
            seconds: (to_s - from_s) as f64,
        },
        start: Duration::from_secs(from_s),
        end: Duration::from_secs(to_s),
    }
}

/// Steady load of 100 req/s with 5 ms answers and a 90 % hit rate, from `from_s` to `to_s`.
fn steady_load(samples: &mut Vec<Sample>, from_s: u64, to_s: u64) {
    for at in (from_s * 1000..to_s * 1000).step_by(10) {
        let cache = if at % 100 == 0 { CACHE_MISS } else { CACHE_HIT };
        samples.push(sample(at, 5, 200, Kind::Read, cache));
    }
}

fn outcome(samples: Vec<Sample>, spans: Vec<PhaseSpan>) -> Outcome {
    let mut outcome = Outcome {
        samples,
        health: Vec::new(),
        spans,
        engine: "test",
        concurrency: 1,
        write_interval: Duration::from_secs(1),
        edge_log_lines: 0,
        edge_log_top: Vec::new(),
        machine: String::new(),
        stats: Vec::new(),
        broken: Vec::new(),
        notes: Vec::new(),
        dashboard: None,
    };
    outcome.evaluate();
    outcome
}

#[test]
fn percentiles_are_nearest_rank() {
    let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
    assert_eq!(percentile(&sorted, 0.5), 50.0);
    assert_eq!(percentile(&sorted, 0.99), 99.0);
    assert_eq!(percentile(&[], 0.99), 0.0);
}

#[test]
fn an_outage_that_costs_nothing_keeps_every_promise() {
    let mut samples = Vec::new();
    steady_load(&mut samples, 0, 20);
    let result = outcome(
        samples,
        vec![
            span(PhaseKind::Steady, 0, 10),
            span(PhaseKind::Down(Target::Redis), 10, 15),
            span(PhaseKind::Restored(Target::Redis), 15, 20),
        ],
    );
    assert!(result.broken.is_empty(), "{:?}", result.broken);
    assert_eq!(result.stats[0].requests, 1000);
}

#[test]
fn slow_answers_5xx_and_hanging_searches_are_reported() {
    let mut samples = Vec::new();
    steady_load(&mut samples, 0, 10);
    // redis down: every request waits 100 ms (10 req/s), one read is a 500 and one
    // search hangs for 3 s.
    for at in (10_000..15_000).step_by(100) {
        samples.push(sample(at, 100, 200, Kind::Read, CACHE_HIT));
    }
    samples.push(sample(12_000, 5, 500, Kind::Read, CACHE_OTHER));
    samples.push(sample(12_500, 3000, 200, Kind::Search, CACHE_OTHER));
    samples.sort_by_key(|s| s.at);
    let result = outcome(
        samples,
        vec![
            span(PhaseKind::Steady, 0, 10),
            span(PhaseKind::Down(Target::Redis), 10, 15),
        ],
    );
    let broken = result.broken.join("\n");
    assert!(broken.contains("throughput"), "{broken}");
    assert!(broken.contains("p99"), "{broken}");
    assert!(broken.contains("1 read request(s) got 500"), "{broken}");
    assert!(
        broken.contains("1 search request(s) got 200 after"),
        "{broken}"
    );
}

#[test]
fn with_the_database_down_only_fast_503s_and_answers_pass() {
    let mut samples = Vec::new();
    steady_load(&mut samples, 0, 10);
    for at in (10_000..13_000).step_by(10) {
        samples.push(sample(at, 2, 503, Kind::Read, 0));
    }
    samples.push(sample(11_000, 3, 500, Kind::Write, 0));
    samples.push(sample(11_500, 4, 200, Kind::Write, 0));
    for at in (13_000..16_000).step_by(10) {
        samples.push(sample(at, 5, 200, Kind::Read, CACHE_MISS));
    }
    samples.sort_by_key(|s| s.at);
    let result = outcome(
        samples,
        vec![
            span(PhaseKind::Steady, 0, 10),
            span(PhaseKind::Down(Target::Database), 10, 13),
            span(PhaseKind::Restored(Target::Database), 13, 16),
        ],
    );
    let broken = result.broken.join("\n");
    assert!(broken.contains("1 × write 500"), "{broken}");
    assert_eq!(result.broken.len(), 1, "{broken}");
    assert!(
        result.notes.iter().any(|n| n.contains("recovered 0.0 s")),
        "{:?}",
        result.notes
    );
    // The table says which requests each failing status hit; 2xx answers are not split.
    let table = result.table();
    assert!(
        table.contains("503 ×300 (read 300), 500 ×1 (write 1)")
            || table.contains("500 ×1 (write 1), 503 ×300 (read 300)"),
        "{table}"
    );
    assert!(!table.contains("200 ×1 ("), "{table}");
}

#[test]
fn searches_must_answer_again_soon_after_the_server_returns() {
    let run = |answers_from_ms: u64| {
        let mut samples = Vec::new();
        steady_load(&mut samples, 0, 10);
        for at in (10_000..15_000).step_by(10) {
            samples.push(sample(at, 5, 200, Kind::Read, CACHE_HIT));
            let status = if at < answers_from_ms { 503 } else { 200 };
            let mut search = sample(at + 5, 3, status, Kind::Search, CACHE_OTHER);
            search.retry_after = true;
            samples.push(search);
        }
        outcome(
            samples,
            vec![
                span(PhaseKind::Steady, 0, 10),
                span(PhaseKind::Restored(Target::Search), 10, 15),
            ],
        )
    };
    let soon = run(11_000);
    assert!(soon.broken.is_empty(), "{:?}", soon.broken);
    assert!(
        soon.notes.iter().any(|n| n.contains("200 again 1.0 s")),
        "{:?}",
        soon.notes
    );
    let late = run(13_500).broken.join("\n");
    assert!(late.contains("searches took 3.5 s"), "{late}");
    let never = run(20_000).broken.join("\n");
    assert!(never.contains("did not answer 200 again"), "{never}");
}

#[test]
fn the_chart_and_the_report_carry_every_phase() {
    let mut samples = Vec::new();
    steady_load(&mut samples, 0, 20);
    let result = outcome(
        samples,
        vec![
            span(PhaseKind::Steady, 0, 10),
            span(PhaseKind::Down(Target::CacheNode), 10, 15),
            span(PhaseKind::Restored(Target::CacheNode), 15, 20),
        ],
    );
    let svg = result.svg();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("one cache node down"));
    let options = DrillOptions {
        short: true,
        write_report: true,
        dashboard: false,
        concurrency: 8,
    };
    let markdown = result.markdown(&options);
    assert!(markdown.contains("| one cache node back |"), "{markdown}");
    assert!(markdown.contains("cargo xtask drill --short"));
    assert!(markdown.contains("Every promise held"));
}

#[test]
fn log_lines_are_grouped_by_message() {
    let log = "2026-12-03T23:00:01Z  WARN edge: cache read failed error=timeout after 80ms\n\
               2026-12-03T23:00:02Z  WARN edge: cache read failed error=timeout after 81ms\n\
               2026-12-03T23:00:03Z ERROR edge: cannot sign\n";
    let top = log_summary(log);
    assert_eq!(
        top[0],
        (
            2,
            "WARN edge: cache read failed error=timeout after ##ms".to_owned()
        )
    );
    assert_eq!(top[1], (1, "ERROR edge: cannot sign".to_owned()));
}

//! What the drill measured, phase by phase, and the promises checked against it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::load::{CACHE_HIT, CACHE_MISS, CACHE_OTHER, DROPPED, Health, Kind, Sample, TIMED_OUT};
use super::{PhaseKind, PhaseSpan, Target, promise};

/// The figures of one phase.
#[derive(Debug, Clone, Default)]
pub(super) struct PhaseStats {
    pub(super) name: String,
    pub(super) seconds: f64,
    pub(super) requests: usize,
    pub(super) statuses: BTreeMap<u16, usize>,
    /// The answers other than 2xx by status and request kind (which requests an outage hit).
    pub(super) failed_by_kind: BTreeMap<u16, BTreeMap<&'static str, usize>>,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    /// p99 and throughput without the first [`promise::GRACE`].
    pub(super) settled_p99_ms: f64,
    pub(super) settled_rps: f64,
    pub(super) rps: f64,
    pub(super) hit_rate: Option<f64>,
    pub(super) dropped: usize,
    pub(super) timed_out: usize,
    pub(super) health: String,
}

pub(super) fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

pub(super) fn latencies<'a>(samples: impl Iterator<Item = &'a Sample>) -> Vec<Duration> {
    let mut all: Vec<Duration> = samples.map(|s| s.latency).collect();
    all.sort();
    all
}

pub(super) fn hit_rate<'a>(samples: impl Iterator<Item = &'a Sample>) -> Option<f64> {
    let (mut hits, mut misses) = (0usize, 0usize);
    for sample in samples {
        match sample.cache {
            CACHE_HIT => hits += 1,
            CACHE_MISS => misses += 1,
            _ => {}
        }
    }
    (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64)
}

pub(super) fn status_label(status: u16) -> String {
    match status {
        DROPPED => "dropped".to_owned(),
        TIMED_OUT => "timeout".to_owned(),
        other => other.to_string(),
    }
}

/// What the drill found.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) samples: Vec<Sample>,
    pub(super) health: Vec<Health>,
    pub(super) spans: Vec<PhaseSpan>,
    pub(super) engine: &'static str,
    pub(super) concurrency: usize,
    pub(super) write_interval: Duration,
    pub(super) edge_log_lines: usize,
    /// The edge API's warnings and errors, grouped (digits masked), most frequent first.
    pub(super) edge_log_top: Vec<(usize, String)>,
    /// Cores and load average when the load started: the figures depend on them.
    pub(super) machine: String,
    pub(super) stats: Vec<PhaseStats>,
    pub(super) broken: Vec<String>,
    pub(super) notes: Vec<String>,
    /// The dashboard drawn from Prometheus (`--dashboard`), with its findings.
    pub(super) dashboard: Option<crate::dashboard::Rendered>,
}

impl Outcome {
    pub(super) fn in_span(
        &self,
        from: Duration,
        to: Duration,
    ) -> impl Iterator<Item = &Sample> + '_ {
        self.samples
            .iter()
            .filter(move |s| s.at >= from && s.at < to)
    }

    pub(super) fn evaluate(&mut self) {
        use promise::*;
        let spans = self.spans.clone();
        for span in &spans {
            let all: Vec<&Sample> = self.in_span(span.start, span.end).collect();
            let settled_from = (span.start + GRACE).min(span.end);
            // Settled: sent after the grace period (a request sent as the backend went away
            // and answered after its timeout belongs to the first second).
            let settled: Vec<&Sample> = all
                .iter()
                .copied()
                .filter(|s| s.at.saturating_sub(s.latency) >= settled_from)
                .collect();
            let mut statuses = BTreeMap::new();
            let mut failed_by_kind: BTreeMap<u16, BTreeMap<&'static str, usize>> = BTreeMap::new();
            for sample in &all {
                *statuses.entry(sample.status).or_insert(0) += 1;
                if !(200..300).contains(&sample.status) {
                    *failed_by_kind
                        .entry(sample.status)
                        .or_default()
                        .entry(sample.kind.label())
                        .or_insert(0) += 1;
                }
            }
            let sorted = latencies(all.iter().copied());
            let settled_sorted = latencies(settled.iter().copied());
            let seconds = (span.end - span.start).as_secs_f64();
            let settled_seconds = (span.end - settled_from).as_secs_f64().max(1e-3);
            let mut health: BTreeMap<String, usize> = BTreeMap::new();
            for answer in self
                .health
                .iter()
                .filter(|h| h.at >= span.start && h.at < span.end)
            {
                let said = if answer.down.is_empty() {
                    status_label(answer.status)
                } else {
                    format!(
                        "{} ({})",
                        status_label(answer.status),
                        answer.down.join(", ")
                    )
                };
                *health.entry(said).or_insert(0) += 1;
            }
            self.stats.push(PhaseStats {
                name: span.phase.name(),
                seconds,
                requests: all.len(),
                dropped: statuses.get(&DROPPED).copied().unwrap_or(0),
                timed_out: statuses.get(&TIMED_OUT).copied().unwrap_or(0),
                statuses,
                failed_by_kind,
                p50_ms: percentile(&sorted, 0.50),
                p99_ms: percentile(&sorted, 0.99),
                settled_p99_ms: percentile(&settled_sorted, 0.99),
                settled_rps: settled.len() as f64 / settled_seconds,
                rps: all.len() as f64 / seconds.max(1e-3),
                hit_rate: hit_rate(all.iter().copied()),
                health: health
                    .iter()
                    .map(|(said, n)| format!("{said} ×{n}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
        let Some(steady) = spans
            .iter()
            .position(|span| span.phase.kind == PhaseKind::Steady)
            .map(|index| self.stats[index].clone())
        else {
            self.broken.push("the steady phase did not run".to_owned());
            return;
        };
        if steady.requests == 0 {
            self.broken
                .push("steady state: no request was answered".to_owned());
            return;
        }
        for (index, span) in spans.iter().enumerate() {
            let stats = self.stats[index].clone();
            let name = stats.name.clone();
            let samples: Vec<Sample> = self.in_span(span.start, span.end).copied().collect();
            match span.phase.kind {
                PhaseKind::Down(Target::Database) => self.check_database_down(&name, &samples),
                PhaseKind::Restored(Target::Database) => {
                    self.check_database_back(&name, span, &samples)
                }
                PhaseKind::WarmUp => {}
                kind => {
                    self.check_available(&name, &samples);
                    if kind == PhaseKind::Steady {
                        continue;
                    }
                    let floor = THROUGHPUT_FLOOR * steady.settled_rps;
                    if stats.settled_rps < floor {
                        self.broken.push(format!(
                            "{name}: throughput {:.0} req/s is below {:.0} % of the steady {:.0} req/s",
                            stats.settled_rps,
                            THROUGHPUT_FLOOR * 100.0,
                            steady.settled_rps
                        ));
                    }
                    let limit = P99_FLOOR_MS.max(P99_FACTOR * steady.settled_p99_ms);
                    if stats.settled_p99_ms > limit {
                        self.broken.push(format!(
                            "{name}: p99 {:.1} ms (after the first {} s) is above max({P99_FLOOR_MS} ms, {P99_FACTOR} × steady {:.1} ms) = {limit:.1} ms",
                            stats.settled_p99_ms,
                            GRACE.as_secs(),
                            steady.settled_p99_ms
                        ));
                    }
                    if kind == PhaseKind::Restored(Target::CacheNode) {
                        self.check_cache_resume(&name, span, steady.hit_rate);
                    }
                    if kind == PhaseKind::Restored(Target::Search) {
                        self.check_search_resume(&name, span);
                    }
                }
            }
        }
        let reloads: Vec<u64> = self.health.iter().filter_map(|h| h.geo_reloads).collect();
        if let (Some(first), Some(last)) = (reloads.first(), reloads.last()) {
            self.notes.push(format!(
                "geo database reloads reported by /healthz: {first} at the start, {last} at the end"
            ));
        }
    }

    /// Reads and writes: no 5xx, no dropped connection, no hang; searches: 200 or a JSON:API
    /// 503 with `Retry-After`, never a hang.
    pub(super) fn check_available(&mut self, name: &str, samples: &[Sample]) {
        let mut failures: BTreeMap<(Kind, String), usize> = BTreeMap::new();
        for sample in samples {
            let bad = match sample.kind {
                Kind::Search => match sample.status {
                    200 => sample.latency > promise::SEARCH_HANG,
                    503 => {
                        !sample.retry_after
                            || !sample.json_api
                            || sample.latency > promise::SEARCH_HANG
                    }
                    _ => true,
                },
                _ => sample.status <= TIMED_OUT || sample.status >= 500,
            };
            if bad {
                let what = if sample.kind == Kind::Search
                    && sample.latency > promise::SEARCH_HANG
                    && sample.status > TIMED_OUT
                {
                    format!("{} after > {:?}", sample.status, promise::SEARCH_HANG)
                } else if sample.status == 503 && sample.kind == Kind::Search {
                    "503 without Retry-After or JSON:API body".to_owned()
                } else {
                    status_label(sample.status)
                };
                *failures.entry((sample.kind, what)).or_insert(0) += 1;
            }
        }
        for ((kind, what), count) in failures {
            self.broken.push(format!(
                "{name}: {count} {} request(s) got {what}",
                kind.label()
            ));
        }
    }

    /// PostgreSQL down: whatever needs the database gets a fast JSON:API 503 (cache hits may
    /// still answer 200); nothing is dropped or hangs. Searches do not need the database and
    /// keep the search promise. A 200 is a right answer whether it came from the cache or
    /// from a database connection that still finished its work (seen in a few requests around
    /// the kill): the promise is that nothing fails slowly, not that nothing succeeds.
    pub(super) fn check_database_down(&mut self, name: &str, samples: &[Sample]) {
        let mut wrong: BTreeMap<String, usize> = BTreeMap::new();
        let mut latencies = Vec::new();
        let searches: Vec<Sample> = samples
            .iter()
            .filter(|s| s.kind == Kind::Search)
            .copied()
            .collect();
        self.check_available(name, &searches);
        for sample in samples.iter().filter(|s| s.kind != Kind::Search) {
            let ok = match sample.status {
                503 => sample.json_api,
                200 => true,
                _ => false,
            };
            if !ok {
                let cache = match sample.cache {
                    CACHE_HIT => " (x-cache: hit)",
                    CACHE_MISS => " (x-cache: miss)",
                    CACHE_OTHER => " (x-cache: other)",
                    _ => "",
                };
                *wrong
                    .entry(format!(
                        "{} {}{cache}",
                        sample.kind.label(),
                        status_label(sample.status)
                    ))
                    .or_insert(0) += 1;
            }
            latencies.push(sample.latency);
        }
        for (what, count) in wrong {
            self.broken.push(format!(
                "{name}: {count} × {what} (expected a JSON:API 503 or a 200)"
            ));
        }
        latencies.sort();
        let p99 = percentile(&latencies, 0.99);
        let limit = promise::DATABASE_DOWN_P99.as_secs_f64() * 1000.0;
        if p99 > limit {
            self.broken.push(format!(
                "{name}: not fast: p99 of reads and writes {p99:.0} ms > {limit:.0} ms"
            ));
        }
    }

    /// PostgreSQL back: within the limit, a second where reads and writes succeed again.
    pub(super) fn check_database_back(&mut self, name: &str, span: &PhaseSpan, samples: &[Sample]) {
        match self.first_good_second(span, |window| {
            let relevant: Vec<&Sample> = window.iter().filter(|s| s.kind != Kind::Search).collect();
            let good = relevant
                .iter()
                .filter(|s| (200..300).contains(&s.status))
                .count();
            !relevant.is_empty()
                && good as f64 >= promise::RECOVERED_FRACTION * relevant.len() as f64
        }) {
            Some(after) => {
                self.notes.push(format!(
                    "{name}: recovered {:.1} s after PostgreSQL returned",
                    after.as_secs_f64()
                ));
                if after > promise::DATABASE_RECOVERY_LIMIT {
                    self.broken.push(format!(
                        "{name}: recovery took {:.1} s (> {:?})",
                        after.as_secs_f64(),
                        promise::DATABASE_RECOVERY_LIMIT
                    ));
                }
            }
            None => self.broken.push(format!(
                "{name}: the API did not recover by itself within the phase ({} requests)",
                samples.len()
            )),
        }
        self.check_available_after_grace(name, span);
    }

    /// After the database recovered, the usual availability promise.
    pub(super) fn check_available_after_grace(&mut self, name: &str, span: &PhaseSpan) {
        let from = span.start + promise::DATABASE_RECOVERY_LIMIT;
        if from >= span.end {
            return;
        }
        let samples: Vec<Sample> = self.in_span(from, span.end).copied().collect();
        self.check_available(&format!("{name} (after recovery)"), &samples);
    }

    /// After the search server returns, searches answer 200 again.
    pub(super) fn check_search_resume(&mut self, name: &str, span: &PhaseSpan) {
        match self.first_good_second(span, |window| {
            let searches = window.iter().filter(|s| s.kind == Kind::Search);
            let (all, good) = searches.fold((0usize, 0usize), |(all, good), s| {
                (all + 1, good + usize::from(s.status == 200))
            });
            all > 0 && good as f64 >= promise::RECOVERED_FRACTION * all as f64
        }) {
            Some(after) => {
                self.notes.push(format!(
                    "{name}: searches answer 200 again {:.1} s after the server returned",
                    after.as_secs_f64()
                ));
                if after > promise::SEARCH_RESUME_LIMIT {
                    self.broken.push(format!(
                        "{name}: searches took {:.1} s to answer 200 again (> {:?})",
                        after.as_secs_f64(),
                        promise::SEARCH_RESUME_LIMIT
                    ));
                }
            }
            None => self.broken.push(format!(
                "{name}: searches did not answer 200 again within the phase"
            )),
        }
    }

    /// After the cache node returns, the hit rate comes back.
    pub(super) fn check_cache_resume(&mut self, name: &str, span: &PhaseSpan, steady: Option<f64>) {
        let Some(steady) = steady else {
            self.broken
                .push("steady state: no cache hit or miss was reported (x-cache)".to_owned());
            return;
        };
        let want = promise::CACHE_RESUME_FRACTION * steady;
        match self.first_good_second(span, |window| {
            hit_rate(window.iter()).is_some_and(|rate| rate >= want)
        }) {
            Some(after) => {
                self.notes.push(format!(
                    "{name}: cache hits back to {:.0} % of steady {:.1} s after the node returned",
                    promise::CACHE_RESUME_FRACTION * 100.0,
                    after.as_secs_f64()
                ));
                if after > promise::CACHE_RESUME_LIMIT {
                    self.broken.push(format!(
                        "{name}: cache hits took {:.1} s to resume (> {:?})",
                        after.as_secs_f64(),
                        promise::CACHE_RESUME_LIMIT
                    ));
                }
            }
            None => self.broken.push(format!(
                "{name}: the cache hit rate never came back to {:.0} % of steady ({:.0} %)",
                promise::CACHE_RESUME_FRACTION * 100.0,
                steady * 100.0
            )),
        }
    }

    /// The start of the first one-second window (sliding by 100 ms) from the phase's start
    /// that satisfies `good`, relative to the phase's start.
    pub(super) fn first_good_second(
        &self,
        span: &PhaseSpan,
        good: impl Fn(&[Sample]) -> bool,
    ) -> Option<Duration> {
        let mut offset = Duration::ZERO;
        while span.start + offset + Duration::from_secs(1) <= span.end {
            let from = span.start + offset;
            let window: Vec<Sample> = self
                .in_span(from, from + Duration::from_secs(1))
                .copied()
                .collect();
            if good(&window) {
                return Some(offset);
            }
            offset += Duration::from_millis(100);
        }
        None
    }
}

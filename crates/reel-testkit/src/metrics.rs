//! Reading what a test recorded through the `metrics` facade (feature `metrics`).
//!
//! [`Snapshot::take`] turns a `metrics-util` debugging recorder's snapshot into a map keyed
//! `name{label=value,...}` (labels sorted by name; `name{}` without labels). The accessors are
//! strict: a series that was never recorded, or has another type, is an error that lists what
//! was recorded. Where absence legitimately means zero (a counter that an action may or may
//! not have touched), say so with [`Snapshot::counter_or_zero`] or
//! [`Snapshot::histogram_or_empty`].
//!
//! ```
//! use reel_testkit::metrics::{DebuggingRecorder, Snapshot};
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::counter!("requests_total", "outcome" => "ok").increment(2);
//! });
//! let snapshot = Snapshot::take(&snapshotter);
//! assert_eq!(snapshot.counter("requests_total{outcome=ok}")?, 2);
//! assert!(snapshot.counter("requests_total{outcome=error}").is_err());
//! assert_eq!(snapshot.counter_or_zero("requests_total{outcome=error}")?, 0);
//! # Ok::<(), reel_testkit::metrics::MetricError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

pub use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// A series that is missing or is not of the type asked for.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricError {
    message: String,
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

// `unwrap()` in a test prints `Debug`: make it the readable message.
impl fmt::Debug for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MetricError {}

/// Every series of one snapshot, keyed `name{label=value,...}` (labels sorted).
#[derive(Debug, Default)]
pub struct Snapshot {
    series: BTreeMap<String, DebugValue>,
}

/// The snapshot key of a metric: `name{label=value,...}` with the labels sorted by name.
pub fn series_key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

impl Snapshot {
    /// Takes a snapshot of everything `snapshotter`'s recorder holds now. (The debugging
    /// recorder drains histograms: each snapshot holds the samples since the previous one.)
    pub fn take(snapshotter: &Snapshotter) -> Self {
        let series = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _unit, _help, value)| {
                let key = key.key();
                let labels: Vec<(&str, &str)> =
                    key.labels().map(|l| (l.key(), l.value())).collect();
                (series_key(key.name(), &labels), value)
            })
            .collect();
        Self { series }
    }

    /// Every key, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.series.keys().map(String::as_str)
    }

    /// Whether `key` was recorded.
    pub fn contains(&self, key: &str) -> bool {
        self.series.contains_key(key)
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Result<&DebugValue, MetricError> {
        self.series.get(key).ok_or_else(|| self.missing(key))
    }

    /// The counter `key`; an error when it was never recorded or is not a counter.
    pub fn counter(&self, key: &str) -> Result<u64, MetricError> {
        match self.get(key)? {
            DebugValue::Counter(n) => Ok(*n),
            other => Err(wrong_type(key, "counter", other)),
        }
    }

    /// The counter `key`, 0 when it was never recorded (an error if it is not a counter).
    pub fn counter_or_zero(&self, key: &str) -> Result<u64, MetricError> {
        if self.contains(key) {
            self.counter(key)
        } else {
            Ok(0)
        }
    }

    /// The gauge `key`; an error when it was never recorded or is not a gauge.
    pub fn gauge(&self, key: &str) -> Result<f64, MetricError> {
        match self.get(key)? {
            DebugValue::Gauge(v) => Ok(v.into_inner()),
            other => Err(wrong_type(key, "gauge", other)),
        }
    }

    /// The samples of histogram `key` since the previous snapshot; an error when it was never
    /// recorded or is not a histogram.
    pub fn histogram(&self, key: &str) -> Result<Vec<f64>, MetricError> {
        match self.get(key)? {
            DebugValue::Histogram(v) => Ok(v.iter().map(|s| s.into_inner()).collect()),
            other => Err(wrong_type(key, "histogram", other)),
        }
    }

    /// The samples of histogram `key`, none when it was never recorded (an error if it is not
    /// a histogram).
    pub fn histogram_or_empty(&self, key: &str) -> Result<Vec<f64>, MetricError> {
        if self.contains(key) {
            self.histogram(key)
        } else {
            Ok(Vec::new())
        }
    }

    fn missing(&self, key: &str) -> MetricError {
        let recorded: Vec<&str> = self.keys().collect();
        MetricError {
            message: format!(
                "metric series `{key}` was never recorded; recorded: [{}]",
                recorded.join(", ")
            ),
        }
    }
}

fn wrong_type(key: &str, expected: &str, found: &DebugValue) -> MetricError {
    MetricError {
        message: format!("metric series `{key}` is not a {expected}: {found:?}"),
    }
}

impl Snapshot {
    /// Adds `more`, a later snapshot, to this one: counters and gauges add up (the debugging
    /// recorder resets both when it reports, so a snapshot holds what moved since the previous
    /// one; a gauge that is `set` rather than moved reads 0 in snapshots after the one that
    /// saw it, and adding keeps its value), histogram samples accumulate, and a series that
    /// changed type replaces the old value.
    pub fn add(&mut self, more: Snapshot) {
        for (key, value) in more.series {
            match (self.series.get_mut(&key), value) {
                (Some(DebugValue::Counter(total)), DebugValue::Counter(more)) => *total += more,
                (Some(DebugValue::Gauge(total)), DebugValue::Gauge(more)) => *total += more,
                (Some(DebugValue::Histogram(total)), DebugValue::Histogram(more)) => {
                    total.extend(more);
                }
                (_, value) => {
                    self.series.insert(key, value);
                }
            }
        }
    }
}

/// Everything a recorder saw since this was made: [`Totals::update`] adds each new snapshot
/// to the totals so far (see [`Snapshot::add`]).
#[derive(Debug)]
pub struct Totals {
    snapshotter: Snapshotter,
    totals: Snapshot,
}

impl Totals {
    /// Totals of the recorder behind `snapshotter`, empty so far.
    pub fn new(snapshotter: Snapshotter) -> Self {
        Self {
            snapshotter,
            totals: Snapshot::default(),
        }
    }

    /// Takes a snapshot, adds it and returns the totals.
    pub fn update(&mut self) -> &Snapshot {
        self.totals.add(Snapshot::take(&self.snapshotter));
        &self.totals
    }
}

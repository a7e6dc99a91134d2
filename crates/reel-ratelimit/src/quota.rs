//! Quotas ("100 per minute, burst 20") and the GCRA decision they drive.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

/// The longest bucket a quota may describe (burst × emission interval): 100 days.
///
/// Stores that do arithmetic in floating point (Lua in Redis uses doubles) stay exact to the
/// nanosecond below 2^53 ns, about 104 days.
pub const MAX_CAPACITY: Duration = Duration::from_secs(100 * 24 * 60 * 60);

/// A rate limit: `count` requests per `period`, with bursts of up to `burst` requests.
///
/// The bucket drains at one request every `period / count` (the *emission interval*) and holds
/// `burst` requests; a full bucket refills completely in `burst × period / count`. Without
/// [`with_burst`](Self::with_burst) the burst equals `count`, so `100/min` admits 100 requests
/// at once and then one every 600 ms.
///
/// ```
/// use std::time::Duration;
/// use reel_ratelimit::Quota;
///
/// let quota = Quota::per_minute(100)?.with_burst(20)?;
/// assert_eq!(quota.emission_interval(), Duration::from_millis(600));
/// assert_eq!(quota.burst(), 20);
/// assert_eq!("100/min burst 20".parse::<Quota>()?, quota);
/// # Ok::<(), reel_ratelimit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    count: u32,
    period: Duration,
    burst: u32,
    emission_nanos: u64,
}

impl Quota {
    /// `count` requests per `period`, burst `count`.
    pub fn new(count: u32, period: Duration) -> Result<Self, Error> {
        if count == 0 {
            return Err(Error::ZeroCount);
        }
        let period_nanos = u64::try_from(period.as_nanos()).map_err(|_| Error::TooLong)?;
        let emission_nanos = period_nanos / u64::from(count);
        if emission_nanos == 0 {
            return Err(Error::TooFast);
        }
        Self {
            count,
            period,
            burst: count,
            emission_nanos,
        }
        .checked()
    }

    /// `count` requests per second.
    pub fn per_second(count: u32) -> Result<Self, Error> {
        Self::new(count, Duration::from_secs(1))
    }

    /// `count` requests per minute.
    pub fn per_minute(count: u32) -> Result<Self, Error> {
        Self::new(count, Duration::from_secs(60))
    }

    /// `count` requests per hour.
    pub fn per_hour(count: u32) -> Result<Self, Error> {
        Self::new(count, Duration::from_secs(3600))
    }

    /// The same rate with a bucket of `burst` requests.
    pub fn with_burst(self, burst: u32) -> Result<Self, Error> {
        if burst == 0 {
            return Err(Error::ZeroBurst);
        }
        Self { burst, ..self }.checked()
    }

    fn checked(self) -> Result<Self, Error> {
        if self.capacity_nanos() > MAX_CAPACITY.as_nanos() as u64 {
            return Err(Error::TooLong);
        }
        Ok(self)
    }

    /// Requests per period.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The period `count` refers to.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The most requests admitted at once (the bucket size); reported as the limit.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Time between two requests at the sustained rate (`period / count`).
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.emission_nanos)
    }

    /// [`emission_interval`](Self::emission_interval) in nanoseconds.
    pub fn emission_nanos(&self) -> u64 {
        self.emission_nanos
    }

    /// Time for a full bucket to drain: `burst × emission interval`.
    pub fn capacity(&self) -> Duration {
        Duration::from_nanos(self.capacity_nanos())
    }

    /// [`capacity`](Self::capacity) in nanoseconds.
    pub fn capacity_nanos(&self) -> u64 {
        self.emission_nanos.saturating_mul(u64::from(self.burst))
    }

    /// Decides a request of `cost` against a bucket whose theoretical arrival time (TAT) lies
    /// `backlog_nanos` after now (`0` for an empty bucket or an unknown key).
    ///
    /// This is the whole GCRA: every store reads the TAT, computes the backlog (TAT − now,
    /// at least 0), calls this function and, when the outcome carries a new backlog, writes
    /// `now + backlog` back atomically. A denied request writes nothing.
    pub fn decide_backlog(&self, backlog_nanos: u64, cost: u32) -> Result<Outcome, Error> {
        if cost > self.burst {
            return Err(Error::CostExceedsBurst {
                cost,
                burst: self.burst,
            });
        }
        let capacity = self.capacity_nanos();
        let after =
            backlog_nanos.saturating_add(self.emission_nanos.saturating_mul(u64::from(cost)));
        if after <= capacity {
            Ok(Outcome {
                decision: Decision {
                    allowed: true,
                    limit: self.burst,
                    remaining: self.remaining(after),
                    reset: Duration::from_nanos(after),
                    retry_after: None,
                    fallback: false,
                },
                new_backlog_nanos: Some(after),
                now_nanos: 0,
            })
        } else {
            Ok(Outcome {
                decision: Decision {
                    allowed: false,
                    limit: self.burst,
                    remaining: self.remaining(backlog_nanos),
                    reset: Duration::from_nanos(backlog_nanos),
                    retry_after: Some(Duration::from_nanos(after - capacity)),
                    fallback: false,
                },
                new_backlog_nanos: None,
                now_nanos: 0,
            })
        }
    }

    /// The state of a bucket whose TAT lies `backlog_nanos` after now, as a request of cost 1
    /// would see it, without its effect: whether it would be admitted, the `remaining`
    /// requests and the `reset` time now (nothing consumed), and on denial the wait.
    pub fn peek_backlog(&self, backlog_nanos: u64) -> Decision {
        let after = backlog_nanos.saturating_add(self.emission_nanos);
        let capacity = self.capacity_nanos();
        Decision {
            allowed: after <= capacity,
            limit: self.burst,
            remaining: self.remaining(backlog_nanos),
            reset: Duration::from_nanos(backlog_nanos),
            retry_after: (after > capacity).then(|| Duration::from_nanos(after - capacity)),
            fallback: false,
        }
    }

    /// Decides a request of `cost` at `now_nanos` against a stored TAT (nanoseconds since the
    /// Unix epoch, `None` for an unknown key). On admission the outcome's
    /// [`new_tat`](Outcome::new_tat) is the value to store.
    pub fn decide(
        &self,
        tat_nanos: Option<u64>,
        now_nanos: u64,
        cost: u32,
    ) -> Result<Outcome, Error> {
        let backlog = tat_nanos.map_or(0, |tat| tat.saturating_sub(now_nanos));
        let mut outcome = self.decide_backlog(backlog, cost)?;
        outcome.now_nanos = now_nanos;
        Ok(outcome)
    }

    fn remaining(&self, backlog_nanos: u64) -> u32 {
        let free = self.capacity_nanos().saturating_sub(backlog_nanos);
        u32::try_from(free / self.emission_nanos)
            .unwrap_or(u32::MAX)
            .min(self.burst)
    }
}

impl fmt::Display for Quota {
    /// The form [`FromStr`] reads: `100/60s burst 20`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, format_period(self.period))?;
        if self.burst != self.count {
            write!(f, " burst {}", self.burst)?;
        }
        Ok(())
    }
}

fn format_period(period: Duration) -> String {
    if period.subsec_nanos() == 0 {
        format!("{}s", period.as_secs())
    } else {
        format!("{}ms", period.as_millis())
    }
}

impl FromStr for Quota {
    type Err = Error;

    /// Reads `<count>/<period>[ burst <n>]`, where the period is a unit (`s`, `sec`, `second`,
    /// `m`, `min`, `minute`, `h`, `hour`, `d`, `day`) or a number and a unit (`30s`, `5min`,
    /// `250ms`). Examples: `100/min`, `100/m burst 20`, `10/s`, `1000/1h burst 50`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || Error::Parse(text.to_owned());
        let mut words = text.split_whitespace();
        let rate = words.next().ok_or_else(invalid)?;
        let (count, period) = rate.split_once('/').ok_or_else(invalid)?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        let period = parse_period(period.trim()).ok_or_else(invalid)?;
        let mut quota = Self::new(count, period)?;
        match (words.next(), words.next(), words.next()) {
            (None, _, _) => {}
            (Some(word), Some(burst), None) if word.eq_ignore_ascii_case("burst") => {
                let burst: u32 = burst.parse().map_err(|_| invalid())?;
                quota = quota.with_burst(burst)?;
            }
            _ => return Err(invalid()),
        }
        Ok(quota)
    }
}

fn parse_period(text: &str) -> Option<Duration> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = if number.is_empty() {
        1
    } else {
        number.parse().ok()?
    };
    let unit_nanos: u64 = match unit.to_ascii_lowercase().as_str() {
        "ms" | "millis" | "millisecond" | "milliseconds" => 1_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000_000,
        "h" | "hr" | "hour" | "hours" => 3_600_000_000_000,
        "d" | "day" | "days" => 86_400_000_000_000,
        _ => return None,
    };
    number
        .checked_mul(unit_nanos)
        .filter(|&n| n > 0)
        .map(Duration::from_nanos)
}

/// What a store learns from [`Quota::decide`]: the decision and, when admitted, the new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The decision to report.
    pub decision: Decision,
    /// On admission, how far after now the new TAT lies; `None` when denied (write nothing).
    pub new_backlog_nanos: Option<u64>,
    now_nanos: u64,
}

impl Outcome {
    /// On admission, the TAT to store (nanoseconds since the Unix epoch); `None` when denied.
    /// Only meaningful for outcomes of [`Quota::decide`], which knows the current time.
    pub fn new_tat(&self) -> Option<u64> {
        self.new_backlog_nanos
            .map(|backlog| self.now_nanos.saturating_add(backlog))
    }
}

/// The answer for one request.
///
/// `limit` is the bucket size (the quota's burst), `remaining` how many more requests of cost
/// 1 would be admitted right now, `reset` the time until the bucket is empty again (all
/// capacity back) and `retry_after`, on denial, the time after which the same request would
/// be admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    allowed: bool,
    limit: u32,
    remaining: u32,
    reset: Duration,
    retry_after: Option<Duration>,
    fallback: bool,
}

impl Decision {
    /// Whether the request is admitted.
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }

    /// The bucket size (the quota's burst).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Requests of cost 1 that would still be admitted now.
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    /// Time until the bucket is empty (all `limit` requests available again).
    pub fn reset(&self) -> Duration {
        self.reset
    }

    /// On denial, the time after which this request would be admitted.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether the store could not decide and the [`FailurePolicy`](crate::FailurePolicy)
    /// did: `limit` is the quota's, `remaining` and `reset` are 0 then.
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }

    /// The decision a failure policy makes when the store is unavailable.
    pub(crate) fn fallback(quota: &Quota, allowed: bool) -> Self {
        Self {
            allowed,
            limit: quota.burst,
            remaining: 0,
            reset: Duration::ZERO,
            retry_after: (!allowed).then(|| quota.emission_interval()),
            fallback: true,
        }
    }

    /// A denial for a request that can never be admitted (its cost exceeds the burst).
    pub(crate) fn never(quota: &Quota) -> Self {
        Self {
            allowed: false,
            limit: quota.burst,
            remaining: 0,
            reset: Duration::ZERO,
            retry_after: None,
            fallback: false,
        }
    }
}

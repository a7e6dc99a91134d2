//! The algorithm against a manual clock: exact figures.

// Helpers outside #[test] functions unwrap too: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reel_ratelimit::{Error, Quota, decode_tat, encode_tat};

const SEC: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * SEC;

#[test]
fn burst_then_sustained_rate() {
    let quota = Quota::per_minute(100).unwrap().with_burst(20).unwrap();
    assert_eq!(quota.emission_interval(), Duration::from_millis(600));
    assert_eq!(quota.capacity(), Duration::from_secs(12));
    let mut tat = None;
    for i in 0..20u32 {
        let outcome = quota.decide(tat, T0, 1).unwrap();
        assert!(outcome.decision.is_allowed(), "request {i}");
        assert_eq!(outcome.decision.remaining(), 19 - i);
        assert_eq!(outcome.decision.limit(), 20);
        assert_eq!(
            outcome.decision.reset(),
            Duration::from_millis(600) * (i + 1)
        );
        assert_eq!(outcome.decision.retry_after(), None);
        tat = outcome.new_tat();
    }
    assert_eq!(tat, Some(T0 + 12 * SEC));
    let denied = quota.decide(tat, T0, 1).unwrap();
    assert!(!denied.decision.is_allowed());
    assert_eq!(denied.new_tat(), None, "a denial writes nothing");
    assert_eq!(denied.decision.remaining(), 0);
    assert_eq!(denied.decision.reset(), Duration::from_secs(12));
    assert_eq!(
        denied.decision.retry_after(),
        Some(Duration::from_millis(600))
    );
    // Exactly at retry-after the request is admitted.
    let later = quota.decide(tat, T0 + 600_000_000, 1).unwrap();
    assert!(later.decision.is_allowed());
    assert_eq!(later.decision.remaining(), 0);
    // One nanosecond early it is not.
    assert!(
        !quota
            .decide(tat, T0 + 599_999_999, 1)
            .unwrap()
            .decision
            .is_allowed()
    );
    // After the whole capacity the bucket is empty again.
    let idle = quota.decide(tat, T0 + 12 * SEC, 1).unwrap();
    assert_eq!(idle.decision.remaining(), 19);
}

#[test]
fn denied_requests_consume_nothing() {
    let quota = Quota::per_second(10).unwrap().with_burst(5).unwrap();
    let mut tat = None;
    for _ in 0..5 {
        tat = quota.decide(tat, T0, 1).unwrap().new_tat();
    }
    for _ in 0..1000 {
        assert!(!quota.decide(tat, T0, 1).unwrap().decision.is_allowed());
    }
    // 100 ms later exactly one request fits, as if the denials never happened.
    assert!(
        quota
            .decide(tat, T0 + 100_000_000, 1)
            .unwrap()
            .decision
            .is_allowed()
    );
}

#[test]
fn cost_weighs_and_cost_above_burst_is_an_error() {
    let quota = Quota::per_second(10).unwrap();
    let first = quota.decide(None, T0, 7).unwrap();
    assert!(first.decision.is_allowed());
    assert_eq!(first.decision.remaining(), 3);
    let tat = first.new_tat();
    let too_big = quota.decide(tat, T0, 4).unwrap();
    assert!(!too_big.decision.is_allowed());
    assert_eq!(
        too_big.decision.remaining(),
        3,
        "smaller requests still fit"
    );
    assert_eq!(
        too_big.decision.retry_after(),
        Some(Duration::from_millis(100))
    );
    assert!(quota.decide(tat, T0, 3).unwrap().decision.is_allowed());
    assert_eq!(
        quota.decide(None, T0, 11),
        Err(Error::CostExceedsBurst {
            cost: 11,
            burst: 10
        })
    );
}

#[test]
fn stale_state_is_an_empty_bucket() {
    let quota = Quota::per_second(2).unwrap();
    let outcome = quota.decide(Some(T0 - 3600 * SEC), T0, 1).unwrap();
    assert_eq!(outcome.decision.remaining(), 1);
    assert_eq!(outcome.new_tat(), Some(T0 + SEC / 2));
}

#[test]
fn parses_quotas() {
    let q: Quota = "100/min".parse().unwrap();
    assert_eq!(
        (q.count(), q.period(), q.burst()),
        (100, Duration::from_secs(60), 100)
    );
    let q: Quota = "100/m burst 20".parse().unwrap();
    assert_eq!(q, Quota::per_minute(100).unwrap().with_burst(20).unwrap());
    let q: Quota = "10/s".parse().unwrap();
    assert_eq!(q, Quota::per_second(10).unwrap());
    let q: Quota = "1000/1h BURST 50".parse().unwrap();
    assert_eq!(q, Quota::per_hour(1000).unwrap().with_burst(50).unwrap());
    let q: Quota = "5/250ms".parse().unwrap();
    assert_eq!(q.emission_interval(), Duration::from_millis(50));
    let q: Quota = "3/30s".parse().unwrap();
    assert_eq!(q.to_string(), "3/30s");
    assert_eq!(q.to_string().parse::<Quota>().unwrap(), q);
    let q: Quota = "100/min burst 20".parse().unwrap();
    assert_eq!(q.to_string().parse::<Quota>().unwrap(), q);

    for bad in [
        "",
        "100",
        "100/",
        "/min",
        "x/min",
        "100/fortnight",
        "100/min burst",
        "100/min burst x",
        "100/min burst 0",
        "0/min",
        "100/min 20",
        "-1/s",
        "100/0s",
    ] {
        assert!(bad.parse::<Quota>().is_err(), "{bad:?} should not parse");
    }
    assert!(matches!(
        "1/365d burst 1".parse::<Quota>(),
        Err(Error::TooLong)
    ));
    assert_eq!(Quota::per_second(0), Err(Error::ZeroCount));
    assert!(matches!("x".parse::<Quota>(), Err(Error::Parse(_))));
}

#[test]
fn state_round_trips_as_decimal_nanoseconds() {
    assert_eq!(encode_tat(T0 + 123), "1700000000000000123");
    assert_eq!(decode_tat(b"1700000000000000123").unwrap(), T0 + 123);
    assert!(decode_tat(b"garbage").is_err());
    assert!(decode_tat(&[0xff, 0xfe]).is_err());
}

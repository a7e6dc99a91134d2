//! Unit tests of the circuit breaker, on a manual clock.

use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use super::*;
use crate::ManualClock;

fn breaker(clock: &ManualClock, threshold: u32) -> CircuitBreaker {
    CircuitBreaker::builder()
        .failure_threshold(threshold)
        .cool_down(Duration::from_secs(1))
        .max_cool_down(Duration::from_secs(4))
        .clock(clock.clone())
        .build()
}

fn fail(breaker: &CircuitBreaker, times: u32) {
    for _ in 0..times {
        breaker.try_acquire().unwrap().failure();
    }
}

#[test]
fn opens_after_threshold_consecutive_failures_only() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 3);
    fail(&b, 2);
    b.try_acquire().unwrap().success(); // resets the run
    fail(&b, 2);
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.stats().consecutive_failures, 2);
    fail(&b, 1);
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.stats().opened, 1);
}

#[test]
fn open_refuses_until_cool_down_then_exactly_one_probe() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    fail(&b, 1);
    let refused = b.try_acquire().unwrap_err();
    assert_eq!(refused.state, BreakerState::Open);
    assert_eq!(refused.retry_in, Duration::from_secs(1));
    clock.advance(Duration::from_millis(999));
    assert_eq!(
        b.try_acquire().unwrap_err().retry_in,
        Duration::from_millis(1)
    );
    clock.advance(Duration::from_millis(1));
    let probe = b.try_acquire().unwrap();
    assert!(probe.is_probe());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    for _ in 0..10 {
        let refused = b.try_acquire().unwrap_err();
        assert_eq!(refused.state, BreakerState::HalfOpen);
        assert!(refused.to_string().contains("probe is in flight"));
    }
    probe.success();
    assert_eq!(b.state(), BreakerState::Closed);
    let permit = b.try_acquire().unwrap();
    assert!(!permit.is_probe());
    permit.success();
    let stats = b.stats();
    assert_eq!((stats.opened, stats.probes, stats.rejected), (1, 1, 12));
}

#[test]
fn failed_probes_back_off_up_to_the_maximum_and_success_resets() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    fail(&b, 1);
    let mut cool_downs = Vec::new();
    for _ in 0..4 {
        let retry_in = b.try_acquire().unwrap_err().retry_in;
        cool_downs.push(retry_in.as_secs());
        clock.advance(retry_in);
        let probe = b.try_acquire().unwrap();
        assert!(probe.is_probe());
        probe.failure();
        assert_eq!(b.state(), BreakerState::Open);
    }
    cool_downs.push(b.try_acquire().unwrap_err().retry_in.as_secs());
    assert_eq!(cool_downs, [1, 2, 4, 4, 4]);

    clock.advance(Duration::from_secs(4));
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&b, 1);
    assert_eq!(
        b.try_acquire().unwrap_err().retry_in,
        Duration::from_secs(1)
    );
}

#[test]
fn a_dropped_permit_counts_as_a_failure_and_frees_the_probe() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2);
    drop(b.try_acquire().unwrap());
    drop(b.try_acquire().unwrap());
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(Duration::from_secs(1));
    drop(b.try_acquire().unwrap()); // a cancelled probe
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(Duration::from_secs(2));
    let probe = b.try_acquire().unwrap();
    assert!(probe.is_probe());
    probe.success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn late_outcomes_of_calls_admitted_while_closed_do_not_change_an_open_breaker() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let slow_ok = b.try_acquire().unwrap();
    let slow_err = b.try_acquire().unwrap();
    fail(&b, 1);
    assert_eq!(b.state(), BreakerState::Open);
    slow_ok.success();
    slow_err.failure();
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.stats().opened, 1);
    assert_eq!(
        b.try_acquire().unwrap_err().retry_in,
        Duration::from_secs(1)
    );
}

#[test]
fn the_listener_sees_every_transition_in_order() {
    let clock = ManualClock::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let second = Arc::clone(&calls);
    let b = CircuitBreaker::builder()
        .failure_threshold(1)
        .cool_down(Duration::from_secs(1))
        .clock(clock.clone())
        .on_transition(move |t| log.lock().unwrap().push((t.from, t.to, t.cool_down)))
        .on_transition(move |_| _ = second.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
        .build();
    fail(&b, 1);
    clock.advance(Duration::from_secs(1));
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(2));
    b.try_acquire().unwrap().success();
    use BreakerState::{Closed, HalfOpen, Open};
    let secs = |s| Some(Duration::from_secs(s));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (Closed, Open, secs(1)),
            (Open, HalfOpen, None),
            (HalfOpen, Open, secs(2)),
            (Open, HalfOpen, None),
            (HalfOpen, Closed, None),
        ]
    );
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        5,
        "every listener runs"
    );
}

#[test]
fn only_one_probe_under_many_concurrent_callers() {
    const THREADS: usize = 16;
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    for round in 0..50 {
        fail(&b, 1);
        assert_eq!(b.state(), BreakerState::Open, "round {round}");
        clock.advance(Duration::from_secs(5)); // past any cool-down
        let barrier = Barrier::new(THREADS);
        let mut probes: Vec<Permit<'_>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (b, barrier) = (&b, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        // Every caller tries many times while the probe is held.
                        let mut probes = Vec::new();
                        for _ in 0..100 {
                            if let Ok(permit) = b.try_acquire() {
                                assert!(permit.is_probe(), "a non-probe permit while half-open");
                                probes.push(permit);
                            }
                        }
                        probes
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(probes.len(), 1, "round {round}: exactly one probe");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        probes.pop().unwrap().success();
        assert_eq!(b.state(), BreakerState::Closed);
    }
    assert_eq!(b.stats().probes, 50);
}

#[test]
fn concurrent_failures_open_the_breaker_once() {
    const THREADS: usize = 8;
    let clock = ManualClock::new();
    let b = breaker(&clock, 3);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let b = b.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let permits: Vec<_> = (0..10).filter_map(|_| b.try_acquire().ok()).collect();
                barrier.wait();
                for permit in permits {
                    permit.failure();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.stats().opened, 1);
}

#[test]
fn gauge_values_and_names() {
    assert_eq!(BreakerState::Closed.as_gauge(), 0);
    assert_eq!(BreakerState::Open.as_gauge(), 1);
    assert_eq!(BreakerState::HalfOpen.as_gauge(), 2);
    assert_eq!(BreakerState::HalfOpen.to_string(), "half_open");
    let open = BreakerOpen {
        state: BreakerState::Open,
        retry_in: Duration::from_secs(2),
    };
    assert!(open.to_string().contains("next probe in 2s"));
}

use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn policy(extra: &str) -> AutoscalePlan {
    let text = format!(
        "service = \"s\"\nruntime = \"docker\"\n[stable]\nimage = \"a:1\"\nmemory = \"256MiB\"\n[autoscale]\nmin = 1\nmax = 4\ntarget_inflight = 8\nscale_down_after = \"30s\"\n{extra}"
    );
    crate::plan::parse(&text, "t.toml")
        .unwrap()
        .autoscale
        .unwrap()
}

fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(s)
}

fn sample(replicas: u32, load: f64) -> Sample {
    Sample {
        role: Role::Stable,
        replicas,
        load,
        memory: Vec::new(),
    }
}

fn scale_to(d: &[Decision]) -> Option<u32> {
    d.iter().find_map(|d| match d {
        Decision::Scale { to, .. } => Some(*to),
        _ => None,
    })
}

#[test]
fn up_at_once_after_two_samples_above_target() {
    let mut a = Autoscaler::new(policy(""), true);
    assert_eq!(scale_to(&a.observe(&sample(1, 20.0), t(0))), None);
    assert_eq!(scale_to(&a.observe(&sample(1, 20.0), t(2))), Some(3));
    // Capped at max.
    let mut a = Autoscaler::new(policy(""), true);
    a.observe(&sample(1, 500.0), t(0));
    assert_eq!(scale_to(&a.observe(&sample(1, 500.0), t(2))), Some(4));
}

#[test]
fn down_one_at_a_time_after_the_cool_down() {
    let mut a = Autoscaler::new(policy(""), true);
    assert_eq!(scale_to(&a.observe(&sample(3, 0.0), t(0))), None);
    assert_eq!(scale_to(&a.observe(&sample(3, 0.0), t(28))), None);
    assert_eq!(scale_to(&a.observe(&sample(3, 0.0), t(30))), Some(2));
    // The cool-down starts again.
    assert_eq!(scale_to(&a.observe(&sample(2, 0.0), t(32))), None);
    assert_eq!(scale_to(&a.observe(&sample(2, 0.0), t(60))), Some(1));
    // Never below min.
    assert_eq!(scale_to(&a.observe(&sample(1, 0.0), t(200))), None);
}

#[test]
fn a_blip_above_target_resets_the_cool_down() {
    let mut a = Autoscaler::new(policy(""), true);
    a.observe(&sample(3, 0.0), t(0));
    a.observe(&sample(3, 24.0), t(20));
    assert_eq!(scale_to(&a.observe(&sample(3, 0.0), t(31))), None);
    assert_eq!(scale_to(&a.observe(&sample(3, 0.0), t(61))), Some(2));
}

#[test]
fn memory_is_raised_by_half_before_the_limit_up_to_the_ceiling() {
    let mut a = Autoscaler::new(policy("memory_ceiling = \"320MiB\""), true);
    let mut s = sample(1, 8.0);
    s.memory = vec![(230 << 20, 256 << 20)];
    let d = a.observe(&s, t(0));
    assert_eq!(
        d,
        vec![Decision::Memory {
            role: Role::Stable,
            from: 256 << 20,
            to: 320 << 20,
            why: "memory limit raised 256 MiB → 320 MiB (use 230 MiB, 89 %)".into(),
        }]
    );
    // At the ceiling: nothing more.
    s.memory = vec![(300 << 20, 320 << 20)];
    assert!(a.observe(&s, t(2)).is_empty());
    // Not on a runtime without limits.
    let mut a = Autoscaler::new(policy("memory_ceiling = \"1GiB\""), false);
    s.memory = vec![(250 << 20, 256 << 20)];
    assert!(a.observe(&s, t(0)).is_empty());
}

#[test]
fn a_breach_within_the_window_undoes_the_last_change() {
    let mut a = Autoscaler::new(policy(""), true);
    a.observe(&sample(1, 20.0), t(0));
    a.observe(&sample(1, 20.0), t(2));
    let undo = a.breach(t(5), std::time::Duration::from_secs(10));
    match undo.as_slice() {
        [
            Decision::Scale {
                from: 3,
                to: 1,
                why,
                ..
            },
        ] => {
            assert!(
                why.contains("after scaling stable 1 → 3; back to 1"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    // Once only, and not after the window.
    assert!(
        a.breach(t(6), std::time::Duration::from_secs(10))
            .is_empty()
    );
    a.observe(&sample(1, 20.0), t(20));
    a.observe(&sample(1, 20.0), t(22));
    assert!(
        a.breach(t(40), std::time::Duration::from_secs(10))
            .is_empty()
    );
}

proptest! {
    /// Whatever the load, a decision stays in min–max, scales up only
    /// toward what the load asks, and down by one.
    #[test]
    fn decisions_stay_in_range(loads in prop::collection::vec(0.0f64..200.0, 1..60), start in 1u32..5) {
        let mut a = Autoscaler::new(policy(""), true);
        let mut n = start;
        for (i, load) in loads.into_iter().enumerate() {
            for d in a.observe(&sample(n, load), t(i as i64 * 2)) {
                if let Decision::Scale { from, to, .. } = d {
                    prop_assert_eq!(from, n);
                    prop_assert!((1..=4).contains(&to));
                    prop_assert!(to != from);
                    if to < from {
                        prop_assert_eq!(to, from - 1);
                    } else {
                        prop_assert!(to <= a.desired(load).max(1));
                    }
                    n = to;
                }
            }
        }
    }
}

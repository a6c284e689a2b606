//! Optional per-op timing (`DEEPLESION_PROFILE=1`): each dispatch is submitted and waited for alone, and its time is summed by op name.
//!
//! This serialises the GPU (every dispatch pays a submit and a wait), so totals are larger than
//! in a normal run; the point is the ranking, which shows where a step's time goes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Accumulated (calls, time) per op name.
#[derive(Default)]
pub struct OpProfile {
    ops: Mutex<BTreeMap<&'static str, (u64, Duration)>>,
}

impl OpProfile {
    /// On when the environment variable `DEEPLESION_PROFILE` is set to anything but `0` or empty.
    pub fn from_env() -> Option<OpProfile> {
        match std::env::var("DEEPLESION_PROFILE") {
            Ok(v) if !v.is_empty() && v != "0" => Some(OpProfile::default()),
            _ => None,
        }
    }

    pub fn add(&self, op: &'static str, t: Duration) {
        let mut m = self.ops.lock().unwrap();
        let e = m.entry(op).or_default();
        e.0 += 1;
        e.1 += t;
    }

    /// A table of ops by total time, largest first, with each op's share.
    pub fn report(&self) -> String {
        let m = self.ops.lock().unwrap();
        let mut rows: Vec<_> = m.iter().map(|(k, v)| (*k, v.0, v.1.as_secs_f64())).collect();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(b.0)));
        let total: f64 = rows.iter().map(|r| r.2).sum();
        let mut s = format!(
            "GPU time per op (DEEPLESION_PROFILE: each dispatch submitted and waited for alone)\n{:<28} {:>8} {:>10} {:>9} {:>6}\n",
            "op", "calls", "total ms", "ms/call", "share"
        );
        for (op, n, t) in rows {
            s += &format!(
                "{op:<28} {n:>8} {:>10.1} {:>9.3} {:>5.1}%\n",
                t * 1e3,
                t * 1e3 / n.max(1) as f64,
                100.0 * t / total.max(1e-12)
            );
        }
        s += &format!("{:<28} {:>8} {:>10.1}\n", "total", "", total * 1e3);
        s
    }
}

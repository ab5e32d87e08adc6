//! Timing records: criterion's `iter_custom` samples kept for the report.
//! Each sample is `(iterations, total time)`; the report uses the minimum
//! and the median of the per-iteration times.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Samples by benchmark id (`group/function`).
#[derive(Debug, Default)]
pub struct Recorder {
    samples: Mutex<BTreeMap<String, Vec<(u64, Duration)>>>,
}

/// Summary of one benchmark's samples, in nanoseconds per iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Fastest sample.
    pub min: f64,
    /// Median sample.
    pub median: f64,
    /// Samples.
    pub samples: usize,
}

impl Recorder {
    /// An empty recorder.
    pub const fn new() -> Recorder {
        Recorder { samples: Mutex::new(BTreeMap::new()) }
    }

    /// Records a sample of `iters` iterations taking `total`.
    pub fn record(&self, id: &str, iters: u64, total: Duration) {
        if iters > 0 {
            self.samples.lock().unwrap().entry(id.to_owned()).or_default().push((iters, total));
        }
    }

    /// Records a single measured value (e.g. a derived figure), in ns.
    pub fn record_value(&self, id: &str, nanos: f64) {
        self.record(id, 1, Duration::from_secs_f64(nanos.max(0.0) / 1e9));
    }

    /// The summary of `id`, if it was measured. The minimum is over every
    /// record; the median over the last `window` (criterion's measurement
    /// samples follow its warm-up runs).
    pub fn get(&self, id: &str, window: usize) -> Option<Summary> {
        let map = self.samples.lock().unwrap();
        let all = map.get(id)?;
        let per_iter: Vec<f64> = all.iter().map(|&(n, d)| d.as_nanos() as f64 / n as f64).collect();
        let min = per_iter.iter().copied().fold(f64::INFINITY, f64::min);
        let last = &per_iter[per_iter.len().saturating_sub(window.max(1))..];
        Some(Summary { min, median: median(last), samples: all.len() })
    }

    /// Every recorded id, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.samples.lock().unwrap().keys().cloned().collect()
    }
}

/// The median of `values` (0 when empty).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 }
}

/// The geometric mean of `values` (`None` when empty).
pub fn geomean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some((values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp())
}

//! Latency percentiles for the load generators in `examples/` (included with `#[path]`).

/// Request latencies in microseconds, sorted.
pub struct Latencies(Vec<u32>);

impl Latencies {
    pub fn new(mut micros: Vec<u32>) -> Self {
        micros.sort_unstable();
        Self(micros)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p` quantile (0–1) in milliseconds, by the nearest-rank method; 0 without samples.
    pub fn ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let i = ((self.0.len() as f64 * p).ceil() as usize).clamp(1, self.0.len()) - 1;
        f64::from(self.0[i]) / 1000.0
    }

    /// `p50 … p90 … p99 … max …`, in milliseconds.
    pub fn summary(&self) -> String {
        format!("p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}", self.ms(0.50), self.ms(0.90), self.ms(0.99), self.ms(1.0))
    }
}

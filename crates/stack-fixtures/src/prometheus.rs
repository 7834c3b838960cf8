//! Reading histograms from the Prometheus text the binaries serve on `/metrics`, for the tests
//! and benchmarks that judge latencies: a series' buckets, the difference of two readings (the
//! window between them) and quantiles interpolated within a bucket as Prometheus'
//! `histogram_quantile` does. Pure.

/// The cumulative buckets of histogram `name`'s series whose labels, apart from `le`, are
/// exactly `labels`: (upper bound, count), `+Inf` last.
pub fn histogram_buckets(text: &str, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{");
    text.lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (label_text, count) = rest.rsplit_once("} ")?;
            let mut bound = None;
            let mut others = vec![];
            for pair in label_text.split(',') {
                let (key, value) = pair.split_once('=')?;
                let value = value.trim_matches('"');
                if key == "le" {
                    bound = Some(value);
                } else {
                    others.push((key, value));
                }
            }
            if others.len() != labels.len() || !labels.iter().all(|label| others.contains(label)) {
                return None;
            }
            let bound = match bound? {
                "+Inf" => f64::INFINITY,
                bound => bound.parse().ok()?,
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect()
}

/// Per bucket, what `after` counted beyond `before`: the histogram of the window between two
/// readings of one series.
pub fn difference(after: &[(f64, f64)], before: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|(bound, count)| {
            let earlier = before
                .iter()
                .find(|(b, _)| b == bound)
                .map_or(0.0, |(_, c)| *c);
            (*bound, count - earlier)
        })
        .collect()
}

/// The value below which `quantile` of the observations fall, interpolated linearly within
/// its bucket (from 0 for the first); the highest finite bound when it falls in `+Inf`. `None`
/// for a histogram with no observations.
pub fn quantile(buckets: &[(f64, f64)], quantile: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let wanted = quantile * total;
    let mut previous = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= wanted {
            if bound.is_infinite() {
                return Some(previous.0);
            }
            let within = (wanted - previous.1) / (count - previous.1).max(f64::EPSILON);
            return Some(previous.0 + within * (bound - previous.0));
        }
        previous = (bound, count);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# TYPE latency_seconds histogram
latency_seconds_bucket{le=\"0.01\",stage=\"a\"} 10
latency_seconds_bucket{le=\"0.02\",stage=\"a\"} 30
latency_seconds_bucket{le=\"+Inf\",stage=\"a\"} 40
latency_seconds_bucket{le=\"0.01\",stage=\"b\"} 1
latency_seconds_bucket{le=\"+Inf\",stage=\"b\"} 2
total_seconds_bucket{le=\"0.01\"} 5
total_seconds_bucket{le=\"+Inf\"} 5
";

    #[test]
    fn buckets_are_read_for_exactly_the_labels_asked() {
        assert_eq!(
            histogram_buckets(TEXT, "latency_seconds", &[("stage", "a")]),
            [(0.01, 10.0), (0.02, 30.0), (f64::INFINITY, 40.0)]
        );
        assert!(histogram_buckets(TEXT, "latency_seconds", &[]).is_empty());
        assert_eq!(
            histogram_buckets(TEXT, "total_seconds", &[]),
            [(0.01, 5.0), (f64::INFINITY, 5.0)]
        );
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket() {
        let buckets = histogram_buckets(TEXT, "latency_seconds", &[("stage", "a")]);
        // The 20th of 40 lies halfway through the (0.01, 0.02] bucket's 20.
        assert!((quantile(&buckets, 0.5).unwrap() - 0.015).abs() < 1e-12);
        // The 39.6th lies in +Inf: the highest finite bound.
        assert_eq!(quantile(&buckets, 0.99), Some(0.02));
        assert_eq!(quantile(&difference(&buckets, &buckets), 0.5), None);
    }
}

//! The two status pages: nginx's stub_status text and the Prometheus text
//! exposition format (version 0.0.4).

use std::fmt::Write;

use super::{BUCKETS, Counter, Snapshot};

/// nginx's stub_status page, byte for byte in shape (its trailing spaces
/// included: parsers split on them).
pub fn stub_status(s: &Snapshot) -> String {
    let waiting = s.active.saturating_sub(s.reading + s.writing);
    format!(
        "Active connections: {} \nserver accepts handled requests\n {} {} {} \nReading: {} Writing: {} Waiting: {} \n",
        s.active,
        s.get(Counter::Accepted),
        s.get(Counter::Handled),
        s.get(Counter::Requests),
        s.reading,
        s.writing,
        waiting
    )
}

/// One metric family: its HELP and TYPE lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

/// The plain counters: name, help, which.
const COUNTERS: [(&str, &str, Counter); 10] = [
    (
        "moltd_connections_accepted_total",
        "Connections accepted.",
        Counter::Accepted,
    ),
    (
        "moltd_connections_handled_total",
        "Connections served (not refused for lack of room).",
        Counter::Handled,
    ),
    (
        "moltd_http_requests_total",
        "Requests answered.",
        Counter::Requests,
    ),
    (
        "moltd_http_response_bytes_total",
        "Response bytes sent.",
        Counter::BytesSent,
    ),
    (
        "moltd_reloads_total",
        "Configuration reloads completed.",
        Counter::Reloads,
    ),
    (
        "moltd_upgrades_total",
        "Binary upgrades committed (rollbacks not counted).",
        Counter::Upgrades,
    ),
    (
        "moltd_worker_restarts_total",
        "Workers started again after an unexpected exit.",
        Counter::WorkerRestarts,
    ),
    (
        "moltd_file_cache_hits_total",
        "Open-file cache hits.",
        Counter::CacheHits,
    ),
    (
        "moltd_file_cache_misses_total",
        "Open-file cache misses.",
        Counter::CacheMisses,
    ),
    (
        "moltd_head_replays_total",
        "Requests answered from a kept response head.",
        Counter::HeadReplays,
    ),
];

/// The Prometheus exposition. Counters carry no labels that change across
/// reloads or upgrades, so their series stay continuous; the version and
/// configuration generation are on `moltd_build_info`.
pub fn prometheus(s: &Snapshot, version: &str, generation: u64) -> String {
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "moltd_build_info",
        "gauge",
        "The serving binary's version and configuration generation.",
    );
    let _ = writeln!(
        out,
        "moltd_build_info{{version=\"{version}\",generation=\"{generation}\"}} 1"
    );
    for (name, help, c) in COUNTERS {
        counter(&mut out, name, help, s.get(c));
    }
    family(
        &mut out,
        "moltd_connections",
        "gauge",
        "Open connections by state.",
    );
    let waiting = s.active.saturating_sub(s.reading + s.writing);
    for (state, v) in [
        ("reading", s.reading),
        ("writing", s.writing),
        ("waiting", waiting),
    ] {
        let _ = writeln!(out, "moltd_connections{{state=\"{state}\"}} {v}");
    }
    family(
        &mut out,
        "moltd_http_responses_total",
        "counter",
        "Responses by status class.",
    );
    for (i, v) in s.statuses.iter().enumerate() {
        let _ = writeln!(
            out,
            "moltd_http_responses_total{{class=\"{}xx\"}} {v}",
            i + 1
        );
    }
    histogram(&mut out, s);
    out
}

fn histogram(out: &mut String, s: &Snapshot) {
    let name = "moltd_http_request_duration_seconds";
    family(
        out,
        name,
        "histogram",
        "Time from a response's start to its last byte handed to the socket.",
    );
    let mut cumulative = 0;
    for (i, b) in BUCKETS.iter().enumerate() {
        cumulative += s.buckets[i];
        let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
    }
    cumulative += s.buckets[BUCKETS.len()];
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
    let sum = s.get(Counter::DurationMicros) as f64 / 1e6;
    let _ = writeln!(out, "{name}_sum {sum}");
    let _ = writeln!(out, "{name}_count {cumulative}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_status_has_nginx_shape() {
        let s = Snapshot {
            counters: vec![
                (Counter::Accepted, 7),
                (Counter::Handled, 7),
                (Counter::Requests, 9),
            ],
            active: 3,
            reading: 1,
            writing: 1,
            ..Snapshot::default()
        };
        assert_eq!(
            stub_status(&s),
            "Active connections: 3 \nserver accepts handled requests\n 7 7 9 \nReading: 1 Writing: 1 Waiting: 1 \n"
        );
    }

    #[test]
    fn the_histogram_is_cumulative_and_counts_everything() {
        let mut s = Snapshot::default();
        s.buckets[0] = 2;
        s.buckets[11] = 1;
        let text = prometheus(&s, "1.0", 3);
        assert!(text.contains("moltd_http_request_duration_seconds_bucket{le=\"0.001\"} 2"));
        assert!(text.contains("moltd_http_request_duration_seconds_bucket{le=\"10\"} 2"));
        assert!(text.contains("moltd_http_request_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("moltd_http_request_duration_seconds_count 3"));
        assert!(text.contains("moltd_build_info{version=\"1.0\",generation=\"3\"} 1"));
    }
}

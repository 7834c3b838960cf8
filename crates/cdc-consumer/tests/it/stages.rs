//! The per-stage latency histograms (`cdc_consumer_stage_seconds{stage=…}`) are exported and
//! add up to the end-to-end latency (`cdc_consumer_end_to_end_seconds`) over a run through the
//! real pipeline: every stage counts every change, the stages' summed seconds equal the
//! end-to-end seconds, and the stage medians add up to about the end-to-end median.

use std::time::Duration;

use stack_fixtures::prometheus::{histogram_buckets, quantile};

use crate::{ContinuousWriter, RunningConsumer, TestPipeline, events_handled, eventually, sample};

const STAGES: [&str; 5] = [
    "commit_to_debezium",
    "debezium_to_kafka",
    "kafka_to_consumer",
    "queued",
    "cassandra",
];
const END_TO_END: &str = "cdc_consumer_end_to_end_seconds";
const STAGE: &str = "cdc_consumer_stage_seconds";

#[tokio::test]
async fn the_stage_histograms_are_exported_and_add_up_to_the_end_to_end_latency() {
    let pipeline = TestPipeline::start("stages").await;
    let consumer = RunningConsumer::start(&pipeline);
    let writer = ContinuousWriter::start(
        pipeline.database().ingester().await,
        "STAGEUSDT",
        "2026-01-05",
        20,
        Duration::from_millis(50),
    );
    tokio::time::sleep(Duration::from_secs(15)).await;
    let written = writer.stop().await as f64;
    eventually(
        Duration::from_secs(120),
        "every change replicated",
        || async { (events_handled(&consumer).await >= written).then_some(()) },
    )
    .await;
    let metrics = consumer.metrics().await;

    let count = |series: &str| {
        sample(&metrics, &format!("{series}_count"))
            .unwrap_or_else(|| panic!("{series}_count is not exported"))
    };
    let sum = |series: &str| {
        sample(&metrics, &format!("{series}_sum"))
            .unwrap_or_else(|| panic!("{series}_sum is not exported"))
    };
    let end_to_end_count = count(END_TO_END);
    assert_eq!(end_to_end_count, written, "end-to-end latencies counted");
    let mut stage_sum = 0.0;
    let mut stage_medians = 0.0;
    for stage in STAGES {
        let series = format!("{STAGE}{{stage=\"{stage}\"}}");
        let stage_count = sample(&metrics, &format!("{STAGE}_count{{stage=\"{stage}\"}}"))
            .unwrap_or_else(|| panic!("{series} is not exported"));
        assert_eq!(
            stage_count, written,
            "stage {stage} must count every change, as the end-to-end latency does"
        );
        stage_sum += sample(&metrics, &format!("{STAGE}_sum{{stage=\"{stage}\"}}"))
            .unwrap_or_else(|| panic!("{series} has no sum"));
        stage_medians += quantile(
            &histogram_buckets(&metrics, STAGE, &[("stage", stage)]),
            0.5,
        )
        .unwrap_or_else(|| panic!("{series} has no buckets"));
    }

    // The stages split each change's time without gap or overlap, up to the moment the
    // end-to-end clock is read (microseconds later): their sums agree closely.
    let end_to_end_sum = sum(END_TO_END);
    let mean_gap_ms = (end_to_end_sum - stage_sum).abs() / written * 1000.0;
    assert!(
        mean_gap_ms <= 0.1 + 0.01 * end_to_end_sum / written * 1000.0,
        "the stages sum to {stage_sum:.3} s and the end-to-end latency to {end_to_end_sum:.3} s \
         over {written} changes: {mean_gap_ms:.3} ms a change apart"
    );
    // Medians do not add exactly (neither do the buckets' interpolations), but a stage that
    // is missing or counted twice moves the sum far from the total's median.
    let end_to_end_median = quantile(&histogram_buckets(&metrics, END_TO_END, &[]), 0.5)
        .expect("the end-to-end histogram has buckets");
    let ratio = stage_medians / end_to_end_median;
    assert!(
        (0.75..=1.25).contains(&ratio),
        "the stage medians add up to {:.1} ms, the end-to-end median is {:.1} ms",
        stage_medians * 1000.0,
        end_to_end_median * 1000.0
    );
}

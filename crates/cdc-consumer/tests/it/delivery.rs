//! Delivery guarantees on the real stack, each test on a pipeline of its own: poison messages go
//! to the dead-letter topic without stopping the stream; offsets are committed only for written
//! changes, after a catch-up, on SIGTERM and on revocation; a consumer killed with SIGKILL
//! while changes are in flight loses nothing and its successor resumes from the commit.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use scylla::value::CqlDate;

use crate::{
    ContinuousWriter, RunningConsumer, TestPipeline, await_committed, await_tickers, cassandra,
    changed_ids, committed_offset, end_offset, events_handled, eventually, header, insert_tickers,
    members_with_partitions, reader_from_beginning, required_env, ticker_count, written_ids,
};

const BOUND: Duration = Duration::from_secs(120);
/// The day these tests' rows fall on, as text and as a CQL date (days from 2^31 before the epoch).
const DAY_TEXT: &str = "2025-11-05";
const DAY: CqlDate = CqlDate((1u32 << 31) + 20397);
const SYMBOL: &str = "BTCUSDT";
/// A commit interval no test outlives: any offset committed under it was committed by a
/// revocation or a shutdown.
const NO_PERIODIC_COMMIT: (&str, &str) = ("CONSUMER_COMMIT_INTERVAL_MS", "3600000");

fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BROKERS"))
        .create()
        .expect("cannot create a producer")
}

/// The first message of partition 0 of `topic`; fails the test after `BOUND`.
async fn first_message(topic: &str) -> rdkafka::message::OwnedMessage {
    tokio::time::timeout(BOUND, reader_from_beginning(topic, 0).recv())
        .await
        .unwrap_or_else(|_| panic!("nothing reached {topic}"))
        .expect("cannot read")
        .detach()
}

/// The message at `offset` of partition 0 of `topic`; fails the test after `BOUND`.
async fn message_at(topic: &str, offset: i64) -> rdkafka::message::OwnedMessage {
    let reader = reader_from_beginning(topic, 0);
    tokio::time::timeout(BOUND, async {
        loop {
            let message = reader.recv().await.expect("cannot read");
            if message.offset() >= offset {
                return message.detach();
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no offset {offset} in {topic}"))
}

/// Every change below `committed` on partition 0 of `topic` is in Cassandra: the group's
/// commit is never past an unwritten message. Returns how many changes that was.
async fn assert_committed_were_written(
    pipeline: &TestPipeline,
    topic: &str,
    committed: i64,
) -> usize {
    let session = cassandra().await;
    let written = written_ids(&session, pipeline, SYMBOL, DAY).await;
    let changes = changed_ids(topic, 0, committed).await;
    assert_eq!(changes.len() as i64, committed, "one change per offset");
    for (offset, id) in &changes {
        assert!(
            written.contains(id),
            "offset {committed} is committed, but the change at offset {offset} (row {id}) is not in Cassandra"
        );
    }
    changes.len()
}

#[tokio::test]
async fn poison_messages_go_to_the_dead_letter_topic_and_the_stream_goes_on() {
    let pipeline = TestPipeline::start("poison").await;
    let topic = pipeline.ticker_topic();
    let consumer = RunningConsumer::start(&pipeline);

    let poison = FutureRecord::to(&topic)
        .key("poison")
        .payload("{\"not\": \"a Debezium message\"");
    producer()
        .send(poison, Duration::from_secs(10))
        .await
        .expect("cannot produce the poison message");
    // A real change after the poison, in the same partition.
    insert_tickers(
        &pipeline.database().ingester().await,
        SYMBOL,
        DAY_TEXT,
        1,
        1,
    )
    .await;
    let session = cassandra().await;
    await_tickers(
        &session,
        &pipeline,
        SYMBOL,
        DAY,
        1,
        BOUND,
        "the change after the poison message",
    )
    .await;

    let dead_letter = first_message(&pipeline.dead_letter_topic()).await;
    assert!(
        header(&dead_letter, "dlq.error").contains("not valid JSON"),
        "{}",
        header(&dead_letter, "dlq.error")
    );
    assert_eq!(header(&dead_letter, "dlq.source.topic"), topic);
    assert_eq!(header(&dead_letter, "dlq.source.partition"), "0");
    assert_eq!(header(&dead_letter, "dlq.source.offset"), "0");
    assert_eq!(dead_letter.key(), Some(&b"poison"[..]));
    assert_eq!(
        dead_letter.payload(),
        Some(&b"{\"not\": \"a Debezium message\""[..])
    );

    // The connector's own message for that change, with last_price emptied: Java never writes
    // an integer as no bytes, and Cassandra could not read one back, so it is a dead letter.
    let change = message_at(&topic, 1).await;
    let mut event: serde_json::Value =
        serde_json::from_slice(change.payload().expect("a change event")).unwrap();
    event["payload"]["after"]["last_price"] = serde_json::json!("");
    let poison = event.to_string();
    producer()
        .send(
            FutureRecord::to(&topic)
                .key("empty decimal")
                .payload(&poison),
            Duration::from_secs(10),
        )
        .await
        .expect("cannot produce the empty decimal");
    let dead_letter = message_at(&pipeline.dead_letter_topic(), 1).await;
    let error = header(&dead_letter, "dlq.error");
    assert!(
        error.contains("after.last_price") && error.contains("empty"),
        "{error}"
    );
    assert_eq!(header(&dead_letter, "dlq.source.offset"), "2");
    assert_eq!(dead_letter.payload(), Some(poison.as_bytes()));

    // Dead-lettered counts as handled: the commit moves past the poisons and the change.
    await_committed(
        &consumer.group,
        &topic,
        0,
        3,
        BOUND,
        "the commit past all three messages",
    )
    .await;
    assert!(consumer.terminate().success());
}

#[tokio::test]
async fn after_a_catch_up_the_committed_offset_is_the_end_of_the_topic() {
    let pipeline = TestPipeline::start("catch_up_commit").await;
    let topic = pipeline.ticker_topic();
    let consumer = RunningConsumer::start(&pipeline);
    insert_tickers(
        &pipeline.database().ingester().await,
        SYMBOL,
        DAY_TEXT,
        1,
        300,
    )
    .await;
    let session = cassandra().await;
    await_tickers(&session, &pipeline, SYMBOL, DAY, 300, BOUND, "300 rows").await;
    assert_eq!(end_offset(&topic, 0), 300);
    // The periodic commit (every second by default) catches up with the writes.
    let bound = Duration::from_secs(30);
    await_committed(
        &consumer.group,
        &topic,
        0,
        300,
        bound,
        "offset 300 committed",
    )
    .await;
    assert!(consumer.terminate().success());
}

#[tokio::test]
async fn sigterm_under_load_commits_exactly_what_was_written() {
    let pipeline = TestPipeline::start("sigterm_commit").await;
    let topic = pipeline.ticker_topic();
    let consumer =
        RunningConsumer::start_in_group(&pipeline, pipeline.name(), &[NO_PERIODIC_COMMIT]);
    let writer = ContinuousWriter::start(
        pipeline.database().ingester().await,
        SYMBOL,
        DAY_TEXT,
        10,
        Duration::from_millis(50),
    );
    let session = cassandra().await;
    let inserted_at_shutdown = eventually(BOUND, "200 rows replicated", || async {
        let inserted = writer.inserted();
        let replicated = ticker_count(&session, &pipeline, SYMBOL, DAY).await?;
        (replicated >= 200).then_some(inserted)
    })
    .await;
    assert_eq!(
        committed_offset(&consumer.group, &topic, 0),
        None,
        "nothing is committed before the shutdown under this commit interval"
    );
    let status = consumer.terminate();
    assert!(
        status.success(),
        "SIGTERM ends the consumer with 0, not {status}"
    );
    // More changes after the shutdown, which nobody consumes.
    eventually(BOUND, "50 more rows after the shutdown", || async {
        (writer.inserted() >= inserted_at_shutdown + 50).then_some(())
    })
    .await;
    writer.stop().await;
    let end = eventually(BOUND, "the rows after the shutdown in Kafka", || async {
        let end = end_offset(&topic, 0);
        (end >= inserted_at_shutdown + 50).then_some(end)
    })
    .await;

    let committed = committed_offset(pipeline.name(), &topic, 0)
        .expect("SIGTERM committed nothing although rows were written");
    assert!(
        committed >= 200 && committed < end,
        "committed {committed} of {end}"
    );
    assert_committed_were_written(&pipeline, &topic, committed).await;
    // And no less than what was written: the change at the committed offset is the first one
    // the consumer had not written when it stopped.
    let written = written_ids(&session, &pipeline, SYMBOL, DAY).await;
    let next = changed_ids(&topic, 0, committed + 1).await;
    let (offset, id) = next[next.len() - 1];
    assert!(
        !written.contains(&id),
        "committed {committed}, but the change at offset {offset} (row {id}) was written too"
    );
}

#[tokio::test]
async fn a_consumer_killed_mid_stream_loses_nothing_and_its_successor_resumes_from_the_commit() {
    let pipeline = TestPipeline::start("sigkill").await;
    let topic = pipeline.ticker_topic();
    let first = RunningConsumer::start(&pipeline);
    let writer = ContinuousWriter::start(
        pipeline.database().ingester().await,
        SYMBOL,
        DAY_TEXT,
        10,
        Duration::from_millis(50),
    );
    let session = cassandra().await;
    // Kill once a periodic commit has happened and changes past it are already in Kafka, while
    // the writer goes on.
    let inserted_before_kill = eventually(BOUND, "a commit, and changes past it", || async {
        let committed = committed_offset(pipeline.name(), &topic, 0)?;
        let inserted = writer.inserted();
        (committed >= 100 && end_offset(&topic, 0) > committed).then_some(inserted)
    })
    .await;
    let killed = first.kill_hard();
    assert!(
        !killed.success(),
        "SIGKILL should end the consumer abnormally"
    );

    let committed =
        committed_offset(pipeline.name(), &topic, 0).expect("the killed consumer had committed");
    assert_committed_were_written(&pipeline, &topic, committed).await;

    eventually(BOUND, "50 more rows after the kill", || async {
        (writer.inserted() >= inserted_before_kill + 50).then_some(())
    })
    .await;
    let inserted = writer.stop().await;
    let second = RunningConsumer::start(&pipeline);
    await_tickers(
        &session,
        &pipeline,
        SYMBOL,
        DAY,
        inserted,
        BOUND,
        "every row after the restart",
    )
    .await;
    // The successor starts at the commit, not at the beginning: it replicates exactly the
    // changes from there on (those the killed one wrote past its commit included).
    let end = end_offset(&topic, 0);
    assert_eq!(end, inserted, "one change per inserted row");
    eventually(BOUND, "the successor's count of changes", || async {
        (events_handled(&second).await == (end - committed) as f64).then_some(())
    })
    .await;
    assert!(second.terminate().success());
}

/// Two consumers in one group over three partitions: when the second joins, the first commits
/// what it wrote before its partitions move, so the second replays nothing; both then share the
/// partitions and every change arrives.
#[tokio::test]
async fn revoked_partitions_are_committed_before_they_move() {
    let pipeline = TestPipeline::start_with_partitions("revocation", 3).await;
    let topic = pipeline.ticker_topic();
    let group = pipeline.name();
    let postgres = pipeline.database().ingester().await;
    let session = cassandra().await;

    let first = RunningConsumer::start_in_group(&pipeline, group, &[NO_PERIODIC_COMMIT]);
    insert_tickers(&postgres, SYMBOL, DAY_TEXT, 1, 300).await;
    await_tickers(
        &session,
        &pipeline,
        SYMBOL,
        DAY,
        300,
        BOUND,
        "the first 300 rows",
    )
    .await;
    let ends: Vec<i64> = (0..3)
        .map(|partition| end_offset(&topic, partition))
        .collect();
    assert_eq!(ends.iter().sum::<i64>(), 300);
    assert!(
        ends.iter().all(|end| *end > 0),
        "rows spread over every partition: {ends:?}"
    );
    for partition in 0..3 {
        assert_eq!(committed_offset(group, &topic, partition), None);
    }

    let second = RunningConsumer::start_in_group(&pipeline, group, &[NO_PERIODIC_COMMIT]);
    eventually(BOUND, "both consumers holding partitions", || async {
        (members_with_partitions(group) == 2).then_some(())
    })
    .await;
    for (partition, end) in ends.iter().enumerate() {
        assert_eq!(
            committed_offset(group, &topic, partition as i32),
            Some(*end),
            "partition {partition} was not committed on revocation"
        );
    }

    insert_tickers(&postgres, SYMBOL, DAY_TEXT, 301, 150).await;
    await_tickers(&session, &pipeline, SYMBOL, DAY, 450, BOUND, "all 450 rows").await;
    let (by_first, by_second) = (events_handled(&first).await, events_handled(&second).await);
    assert!(by_second > 0.0, "the second consumer replicated nothing");
    assert_eq!(
        by_first + by_second,
        450.0,
        "every change replicated once between them, none replayed"
    );
    assert!(first.terminate().success());
    assert!(second.terminate().success());
}

/// Debezium creates a table's topic with the table's first change, often after the consumer has
/// started and while it is busy with another topic: the consumer must pick the new topic up
/// (a rebalance adds its partition) and lose nothing of the busy one.
#[tokio::test]
async fn a_topic_created_after_the_consumer_started_is_consumed() {
    let pipeline = TestPipeline::start("late_topic").await;
    let late_topic = format!("{}.late", pipeline.name());
    let topics = format!("{},{late_topic}", pipeline.ticker_topic());
    let consumer = RunningConsumer::start_in_group(
        &pipeline,
        pipeline.name(),
        &[("CONSUMER_TOPICS", &topics)],
    );
    eventually(
        BOUND,
        "the consumer in its group before the topic exists",
        || async { (members_with_partitions(&consumer.group) == 1).then_some(()) },
    )
    .await;
    let postgres = pipeline.database().ingester().await;
    insert_tickers(&postgres, SYMBOL, DAY_TEXT, 1, 300).await;
    // Not a Debezium message: its arrival in the dead-letter topic shows it was consumed.
    producer()
        .send(
            FutureRecord::to(&late_topic)
                .key("late")
                .payload("not JSON"),
            Duration::from_secs(10),
        )
        .await
        .expect("cannot produce to the new topic");
    insert_tickers(&postgres, SYMBOL, DAY_TEXT, 301, 300).await;
    let dead_letter = first_message(&pipeline.dead_letter_topic()).await;
    assert_eq!(dead_letter.payload(), Some("not JSON".as_bytes()));
    let session = cassandra().await;
    await_tickers(
        &session,
        &pipeline,
        SYMBOL,
        DAY,
        600,
        BOUND,
        "all 600 tickers around the rebalance",
    )
    .await;
}

/// Sets one configuration entry of `topic`.
async fn set_topic_config(topic: &str, key: &str, value: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BROKERS"))
        .create()
        .expect("cannot create an admin client");
    let altered = admin
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Topic(topic)).set(key, value)],
            &AdminOptions::new(),
        )
        .await
        .expect("cannot alter the topic's configuration");
    assert!(altered.iter().all(Result::is_ok), "{altered:?}");
}

/// `/healthz` of `consumer`: its status and body.
async fn health_report(consumer: &RunningConsumer) -> Option<(u16, String)> {
    let response = reqwest::get(format!("http://{}/healthz", consumer.operations_address))
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// A poison message whose dead letter the broker refuses (the dead-letter topic's
/// `max.message.bytes` is below its size): `/healthz` says so, the message is not skipped (its
/// offset is not committed), and once the topic takes it the dead letter arrives and the
/// consumer is healthy again.
#[tokio::test]
async fn dead_letters_that_cannot_be_published_make_the_consumer_unhealthy_until_they_are() {
    let pipeline = TestPipeline::start("dead_letter_refused").await;
    let (topic, dead_letter_topic) = (pipeline.ticker_topic(), pipeline.dead_letter_topic());
    set_topic_config(&dead_letter_topic, "max.message.bytes", "64").await;
    let consumer = RunningConsumer::start(&pipeline);
    let poison = "x".repeat(1024);
    producer()
        .send(
            FutureRecord::to(&topic).key("poison").payload(&poison),
            Duration::from_secs(10),
        )
        .await
        .expect("cannot produce the poison message");

    let report = eventually(
        BOUND,
        "/healthz reporting the refused dead letter",
        || async {
            health_report(&consumer)
                .await
                .filter(|(status, body)| *status == 503 && body.contains("dead_letter_publish"))
        },
    )
    .await;
    assert!(report.1.contains("too large"), "{report:?}");
    assert_eq!(
        committed_offset(&consumer.group, &topic, 0),
        None,
        "the poison message was skipped without its dead letter"
    );

    // Raised while the consumer still tries the whole message, the limit lets it through;
    // raised once the consumer has given up on that (after 3 refusals), the headers go alone,
    // pointing to the source offset. Either way, only once the topic takes them.
    set_topic_config(&dead_letter_topic, "max.message.bytes", "1048588").await;
    let dead_letter = first_message(&dead_letter_topic).await;
    assert_eq!(header(&dead_letter, "dlq.source.offset"), "0");
    match dead_letter.payload() {
        Some(payload) => assert_eq!(payload, poison.as_bytes()),
        None => assert!(
            header(&dead_letter, "dlq.payload").starts_with("omitted"),
            "a dead letter without its payload says so"
        ),
    }
    eventually(BOUND, "/healthz healthy again", || async {
        health_report(&consumer)
            .await
            .filter(|(status, _)| *status == 200)
    })
    .await;
    await_committed(
        &consumer.group,
        &topic,
        0,
        1,
        BOUND,
        "the poison message's offset",
    )
    .await;
    assert!(consumer.terminate().success());
}

/// A poison message too large for the dead-letter topic, whose headers alone fit: the dead letter
/// goes without the payload (saying so, and where the payload still is), and the stream moves on
/// without an operator.
#[tokio::test]
async fn a_dead_letter_too_large_for_its_topic_goes_without_its_payload() {
    let pipeline = TestPipeline::start("dead_letter_stripped").await;
    let (topic, dead_letter_topic) = (pipeline.ticker_topic(), pipeline.dead_letter_topic());
    set_topic_config(&dead_letter_topic, "max.message.bytes", "1200").await;
    let consumer = RunningConsumer::start(&pipeline);
    let poison = "x".repeat(4096);
    producer()
        .send(
            FutureRecord::to(&topic).key("poison").payload(&poison),
            Duration::from_secs(10),
        )
        .await
        .expect("cannot produce the poison message");

    let dead_letter = first_message(&dead_letter_topic).await;
    assert_eq!(dead_letter.payload(), None, "the payload does not fit");
    assert_eq!(header(&dead_letter, "dlq.source.topic"), topic);
    assert_eq!(header(&dead_letter, "dlq.source.offset"), "0");
    let note = header(&dead_letter, "dlq.payload");
    assert!(note.starts_with("omitted"), "{note}");
    await_committed(
        &consumer.group,
        &topic,
        0,
        1,
        BOUND,
        "the poison message's offset",
    )
    .await;
    assert!(consumer.terminate().success());
}

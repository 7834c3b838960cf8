//! The consumer logs in to Cassandra as its role: with a wrong password, or none where
//! Cassandra requires one, it stops at once with an error naming Cassandra authentication,
//! instead of retrying as it does while Cassandra is unreachable.

use stack_fixtures::{StackEnvironment, unique_name};

use crate::schema::run_consumer;

#[test]
fn a_wrong_password_stops_the_consumer_naming_cassandra_authentication() {
    let stack = StackEnvironment::from_env();
    let name = unique_name("wrong_password");
    let wrong = cassandra_schema::access::Login::new(
        stack.cassandra_consumer.username.clone(),
        "not-the-password",
    );
    for (case, login) in [("a wrong password", Some(&wrong)), ("no login", None)] {
        let (status, stderr) = run_consumer(
            &[],
            login,
            &[
                ("CASSANDRA_KEYSPACE", name.as_str()),
                ("CONSUMER_TOPICS", name.as_str()),
                ("CONSUMER_GROUP_ID", name.as_str()),
            ],
        );
        assert!(!status.success(), "the consumer with {case} exited 0");
        assert!(
            stderr.contains("Cassandra authentication failed"),
            "with {case}, the error should name Cassandra authentication:\n{stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "with {case}, the consumer panicked:\n{stderr}"
        );
        assert!(
            !stderr.contains("not-the-password"),
            "the error shows the password:\n{stderr}"
        );
    }
}

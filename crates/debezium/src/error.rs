//! The one error type of decoding. Every variant names where in the message the problem is
//! (`after.last_price`, `source.lsn`, …) so a poison message can be diagnosed from the log or
//! the dead-letter headers alone.

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("the message is not valid JSON: {0}")]
    Json(String),
    #[error(
        "the message has no schema, so the scale of its decimals cannot be known; enable \
         `value.converter.schemas.enable=true` on the connector"
    )]
    MissingSchema,
    #[error("the message has no payload")]
    MissingPayload,
    #[error("the schema is invalid at {path}: {reason}")]
    InvalidSchema { path: String, reason: String },
    #[error("{path} ({declared}): {reason}")]
    InvalidValue {
        path: String,
        declared: String,
        reason: String,
    },
    #[error("{path} is required by the schema but missing or null")]
    MissingField { path: String },
    #[error("unknown operation {0:?}: expected one of c, u, d, r, t, m")]
    UnknownOp(String),
}

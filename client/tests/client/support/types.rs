//! Argument and reply types of the test services, with Go's field names.

use serde::{Deserialize, Serialize};

/// `{"A":int,"B":int}`: Arith.Mul, Arith.Add, Test.Fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Args {
    #[serde(rename = "A")]
    pub a: i64,
    #[serde(rename = "B")]
    pub b: i64,
}

/// `{"C":int}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArithReply {
    #[serde(rename = "C")]
    pub c: i64,
}

/// `{"Ms":int}`: Test.Sleep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SleepArgs {
    #[serde(rename = "Ms")]
    pub ms: i64,
}

/// `{"Count":int,"Payload":string}`: Test.Push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushArgs {
    #[serde(rename = "Count")]
    pub count: i64,
    #[serde(rename = "Payload")]
    pub payload: String,
}

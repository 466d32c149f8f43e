//! Evidence carried by agency answers (the X-Road model): each response echoes
//! the SHA-256 of the protobuf encoding of the request it answers, so the
//! registry can later prove which question an answer belongs to.

use sha2::{Digest, Sha256};

/// SHA-256 of a message's protobuf encoding. prost encodes fields in field-number
/// order, so both ends compute the same bytes for the same message.
pub fn sha256_of<M: prost::Message>(message: &M) -> Vec<u8> {
    Sha256::digest(message.encode_to_vec()).to_vec()
}

/// Now, RFC 3339 UTC with millisecond precision.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

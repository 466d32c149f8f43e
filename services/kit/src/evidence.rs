//! Evidence carried by agency answers (the X-Road model): each response echoes
//! the SHA-256 of the protobuf encoding of the request it answers, so the
//! registry can later prove which question an answer belongs to.

use sha2::{Digest, Sha256};

/// SHA-256 of `full type name ‖ 0x00 ‖ protobuf encoding` of a message, e.g.
/// over `vrs.identity.v1.GetCitizenRequest`. prost encodes fields in field-number
/// order, so both ends compute the same bytes for the same message. The type
/// name matters: a `GetCitizenRequest` and a `ListRegistrationFeesRequest` for
/// the same person encode to the same bytes, and evidence must tell them apart.
pub fn sha256_of<M: prost::Message + prost::Name>(message: &M) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(M::full_name().as_bytes());
    h.update([0u8]);
    h.update(message.encode_to_vec());
    h.finalize().to_vec()
}

/// Now, RFC 3339 UTC with millisecond precision.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vrs_proto::pb::{identity::v1 as identity, tax::v1 as tax};

    #[test]
    fn same_bytes_of_different_types_hash_differently() {
        let a = identity::GetCitizenRequest {
            personal_id: "001090012345".into(),
        };
        let b = tax::ListRegistrationFeesRequest {
            payer_id: "001090012345".into(),
        };
        assert_eq!(prost::Message::encode_to_vec(&a), prost::Message::encode_to_vec(&b));
        assert_ne!(sha256_of(&a), sha256_of(&b));
        let mut expected = Sha256::new();
        expected.update(b"vrs.identity.v1.GetCitizenRequest\0");
        expected.update(prost::Message::encode_to_vec(&a));
        assert_eq!(sha256_of(&a), expected.finalize().to_vec());
    }
}

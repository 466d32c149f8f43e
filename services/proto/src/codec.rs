//! The protobuf codec of every service: prost's, except that a request whose
//! bytes do not decode is INVALID_ARGUMENT (the caller sent garbage) rather
//! than tonic-prost's INTERNAL (which says the server is at fault).
//!
//! Unknown fields are skipped, as protobuf intends: refusing them would break
//! rolling upgrades, where a newer portal sends fields an older replica does
//! not know yet. Their cost is bounded by each server's message size limit.

use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

#[derive(Debug, Clone)]
pub struct VrsCodec<T, U>(ProstCodec<T, U>);

impl<T, U> Default for VrsCodec<T, U> {
    fn default() -> Self {
        VrsCodec(ProstCodec::default())
    }
}

impl<T, U> Codec for VrsCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = MalformedIsInvalid<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        MalformedIsInvalid(self.0.decoder())
    }
}

#[derive(Debug, Clone)]
pub struct MalformedIsInvalid<U>(ProstDecoder<U>);

impl<U: prost::Message + Default> Decoder for MalformedIsInvalid<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|s| {
            if s.code() == tonic::Code::Internal {
                Status::invalid_argument(format!("malformed message: {}", s.message()))
            } else {
                s
            }
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

//! Transport security: who is at the other end of a connection.

/// The subject common name of the client certificate the caller presented
/// over mTLS, if any.
pub fn peer_common_name<T>(_req: &tonic::Request<T>) -> Option<String> {
    None
}

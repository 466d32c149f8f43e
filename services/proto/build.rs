//! Compiles `proto/` with `protox` (pure Rust, no system `protoc`) and feeds the
//! file descriptors to `tonic-prost-build`. The encoded descriptor set is also
//! written out so that every server can offer gRPC reflection.

use std::path::PathBuf;

const FILES: &[&str] = &[
    "vrs/identity/v1/identity.proto",
    "vrs/tax/v1/tax.proto",
    "vrs/customs/v1/customs.proto",
    "vrs/register/v1/register.proto",
    "vrs/registration/v1/registration.proto",
    "vrs/beacon/v1/beacon.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    for f in FILES {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = protox::compile(FILES, [&root])?;
    std::fs::write(out.join("vrs_descriptor.bin"), prost::Message::encode_to_vec(&fds))?;
    // Type names (`prost::Name`) let evidence hashes bind a request to its message type.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::codec::VrsCodec")
        .compile_fds_with_config(fds, config)?;
    Ok(())
}

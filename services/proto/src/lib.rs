//! Generated protobuf messages and gRPC stubs for every `vrs.*.v1` package.
//!
//! Nothing else in the workspace calls `include_proto!`: services depend on this
//! crate and use `vrs_proto::pb::<service>::v1`. [`FILE_DESCRIPTOR_SET`] feeds
//! the reflection service of every server.

#![allow(clippy::all, clippy::pedantic, missing_docs, rust_2018_idioms)]

pub mod codec;

/// All generated code, one module per proto package.
pub mod pb {
    pub mod identity {
        pub mod v1 {
            tonic::include_proto!("vrs.identity.v1");
        }
    }
    pub mod tax {
        pub mod v1 {
            tonic::include_proto!("vrs.tax.v1");
        }
    }
    pub mod customs {
        pub mod v1 {
            tonic::include_proto!("vrs.customs.v1");
        }
    }
    pub mod register {
        pub mod v1 {
            tonic::include_proto!("vrs.register.v1");
        }
    }
    pub mod beacon {
        pub mod v1 {
            tonic::include_proto!("vrs.beacon.v1");
        }
    }
    pub mod registration {
        pub mod v1 {
            tonic::include_proto!("vrs.registration.v1");
        }
    }
}

impl pb::registration::v1::Owner {
    /// The owner's identifier as declared: the personal ID of an individual,
    /// the tax code of an organisation; empty when the kind is missing.
    pub fn id(&self) -> &str {
        use pb::registration::v1::owner::Kind;
        match &self.kind {
            Some(Kind::Individual(i)) => &i.personal_id,
            Some(Kind::Organisation(o)) => &o.tax_code,
            None => "",
        }
    }
}

/// Encoded `FileDescriptorSet` of all packages, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vrs_descriptor.bin"));

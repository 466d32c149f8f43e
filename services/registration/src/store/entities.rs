//! sea-orm entities mirroring the tables created by the `migration` crate.

pub mod application {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "applications")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub dossier_code: String,
        pub content_hash: String,
        /// Normalised `SubmitApplicationRequest`, protobuf-encoded.
        pub declaration: Vec<u8>,
        pub office_code: String,
        pub locality_code: String,
        pub state: String,
        /// JSON array of [`crate::domain::checks::Reason`].
        pub reasons: String,
        pub warnings: String,
        pub attempts: i32,
        pub next_attempt_at_ms: Option<i64>,
        pub version: i64,
        pub created_at_ms: i64,
        pub updated_at_ms: i64,
        /// The plate, once assigned.
        pub plate: Option<String>,
        /// Taxable value from the fee record (sets the motorbike fee band).
        pub vehicle_value_vnd: Option<i64>,
        pub certificate_number: Option<String>,
        /// Set while a clerk's physical check contradicts the declaration.
        pub blocked_reason: Option<String>,
        /// Keyed hash of the chassis number while the application is active;
        /// unique, so a vehicle has one active application at a time.
        pub vehicle_key: Option<String>,
        /// Sequence number of the last history row.
        pub history_seq: i32,
        /// Sequence number of the last portal event.
        pub outbox_seq: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod history {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "application_history")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub application_id: String,
        pub seq: i32,
        pub from_state: String,
        pub to_state: String,
        pub actor: String,
        pub reason_code: String,
        pub note: String,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod evidence {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "application_evidence")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub application_id: String,
        pub attempt: i32,
        pub agency: String,
        pub request_sha256: String,
        pub response_sha256: String,
        pub outcome: String,
        pub fetched_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod log_entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "log_entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub kind: String,
        pub pool_id: String,
        pub entry: Vec<u8>,
        pub leaf_hash: Vec<u8>,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod log_head {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "log_head")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub size: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod checkpoint {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "checkpoints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub size: i64,
        pub root: Vec<u8>,
        pub note: String,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pool {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pools")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pool_id: String,
        pub family: String,
        pub series_rank: i32,
        pub status: String,
        pub opened_seq: i64,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod draw {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "draws")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub application_id: String,
        pub pool_id: String,
        pub method: String,
        pub owner_key: String,
        pub salt: Vec<u8>,
        pub beacon_id: String,
        pub round: i64,
        pub commit_seq: i64,
        pub result_seq: Option<i64>,
        pub number: Option<i32>,
        pub plate: Option<String>,
        pub at_ms: i64,
        pub resolved_at_ms: Option<i64>,
        /// Log index of the result answering the pool's previous commit (its
        /// receipt shows that result); set with the result, `None` for the
        /// pool's first draw and for plates issued without a draw.
        pub previous_result_seq: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod plate {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pool_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub number: i32,
        pub plate: String,
        pub application_id: String,
        pub owner_key: String,
        pub owner_salt: Option<Vec<u8>>,
        pub status: String,
        pub retained_until_ms: Option<i64>,
        pub updated_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pool_snapshot {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pool_snapshots")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pool_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub bitmap: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod payment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "payments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub payment_reference: String,
        pub application_id: String,
        pub amount_vnd: i64,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod certificate {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "certificates")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub application_id: String,
        pub number: String,
        pub actor: String,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod outbox {
    use sea_orm::entity::prelude::*;

    /// One status change owed to the portal, written in the transaction of the change.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub application_id: String,
        /// Position among this application's events, from 1: the portal sees them in this order.
        pub seq: i32,
        pub status: String,
        pub reason_code: String,
        pub detail: String,
        pub at_ms: i64,
        /// `PENDING`, `DELIVERED` or `DEAD`.
        pub delivery: String,
        pub attempts: i32,
        pub next_attempt_at_ms: i64,
        pub last_error: String,
        pub delivered_at_ms: Option<i64>,
        /// W3C `traceparent` of the step that wrote the row: delivery continues that trace.
        pub trace_parent: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod physical_check {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "physical_checks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub application_id: String,
        pub actor: String,
        pub chassis_matches: bool,
        pub engine_matches: bool,
        pub note: String,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod void_certificate {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "void_certificates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub number: String,
        pub application_id: String,
        pub replaced_by: String,
        pub reason: String,
        pub actor: String,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod key_fingerprint {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "key_fingerprints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub sha256: String,
        pub pinned_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Revoked caller tokens (`token:<jti>`) and subjects (`subject:<sub>`).
pub mod revocation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "revocations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub revoked_at: i64,
        pub actor: String,
        pub reason: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Calls admitted per caller and window by all replicas (the shared rate limit).
pub mod rate_window {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rate_windows")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub window: i64,
        pub count: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The log key's rotations (draw spec §6.4): the key-rotation entry's index
/// and the handover checkpoint both keys signed.
pub mod log_key_rotation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "log_key_rotations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub old_key: String,
        pub new_key: String,
        pub handover: String,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

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

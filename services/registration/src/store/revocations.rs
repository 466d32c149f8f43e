//! Revoked caller tokens, as rows every replica reads (`auth` keeps the set in
//! memory and refreshes it every `auth.revocation_refresh_ms`).

use sea_orm::{ActiveValue::Set, DbErr, EntityTrait};

use super::Store;
use super::entities::revocation;

/// What a revocation applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Revoked {
    /// One token, by its `jti`.
    Token(String),
    /// Every token of this subject issued at or before the revocation.
    Subject(String),
}

impl Revoked {
    fn key(&self) -> String {
        match self {
            Revoked::Token(jti) => format!("token:{jti}"),
            Revoked::Subject(sub) => format!("subject:{sub}"),
        }
    }

    fn parse(key: &str) -> Option<Revoked> {
        if let Some(jti) = key.strip_prefix("token:") {
            Some(Revoked::Token(jti.to_owned()))
        } else {
            key.strip_prefix("subject:").map(|s| Revoked::Subject(s.to_owned()))
        }
    }
}

impl Store {
    /// Records a revocation at `revoked_at` (Unix seconds); revoking again
    /// moves the time forward (later tokens of a subject are refused too).
    pub async fn revoke(&self, what: &Revoked, revoked_at: i64, actor: &str, reason: &str) -> Result<(), DbErr> {
        let row = revocation::ActiveModel {
            id: Set(what.key()),
            revoked_at: Set(revoked_at),
            actor: Set(actor.to_owned()),
            reason: Set(reason.to_owned()),
        };
        revocation::Entity::insert(row)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(revocation::Column::Id)
                    .update_columns([
                        revocation::Column::RevokedAt,
                        revocation::Column::Actor,
                        revocation::Column::Reason,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(self.connection())
            .await?;
        Ok(())
    }

    /// Every revocation, with its time: one statement, a few rows (tokens
    /// live minutes to hours; old rows are harmless).
    pub async fn revocations(&self) -> Result<Vec<(Revoked, i64)>, DbErr> {
        let rows = revocation::Entity::find().all(self.connection()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Revoked::parse(&r.id).map(|what| (what, r.revoked_at)))
            .collect())
    }
}

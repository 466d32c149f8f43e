//! Certificates and payments as the service asks about them: a reissue
//! (the old number void, the next `-R<n>` number, a history row), and the
//! payment a reference already confirmed.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, Set, SqlErr};

use super::entities::{application, certificate, payment, void_certificate};
use super::{HistoryEntry, Store, StoreError, append_history_in};
use crate::domain::workflow::State;

/// What a reissue came to.
#[derive(Debug)]
pub enum Reissued {
    /// The old number and the new one.
    Done { old: String, new: String },
    /// The application has no certificate (it was never issued).
    NoCertificate,
}

impl Store {
    /// The payment confirmed under `reference`, if any.
    pub async fn payment(&self, reference: &str) -> Result<Option<payment::Model>, DbErr> {
        payment::Entity::find_by_id(reference.to_owned())
            .one(self.connection())
            .await
    }

    /// Replaces `current`'s certificate number with the next `-R<n>`, voiding
    /// the old one, under the optimistic version check, with a history row
    /// (state unchanged) and its portal event, in one transaction. A
    /// concurrent reissue or change is [`StoreError::Conflict`].
    pub async fn reissue_certificate(
        &self,
        current: &application::Model,
        state: State,
        reason: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<Reissued, StoreError> {
        let id = current.id.as_str();
        let txn = self.begin_write().await?;
        let Some(cert) = certificate::Entity::find()
            .filter(certificate::Column::ApplicationId.eq(id))
            .one(&txn)
            .await?
        else {
            return Ok(Reissued::NoCertificate);
        };
        let reissues = void_certificate::Entity::find()
            .filter(void_certificate::Column::ApplicationId.eq(id))
            .count(&txn)
            .await?;
        let base = cert.number.split("-R").next().unwrap_or(&cert.number).to_owned();
        let number = format!("{base}-R{}", reissues + 1);
        void_certificate::ActiveModel {
            number: Set(cert.number.clone()),
            application_id: Set(id.to_owned()),
            replaced_by: Set(number.clone()),
            reason: Set(reason.to_owned()),
            actor: Set(actor.to_owned()),
            at_ms: Set(now_ms),
        }
        .insert(&txn)
        .await
        .map_err(|e| match e.sql_err() {
            // A concurrent reissue of the same certificate won.
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(id.to_owned()),
            _ => e.into(),
        })?;
        certificate::Entity::update_many()
            .col_expr(certificate::Column::Number, Expr::value(number.as_str()))
            .filter(certificate::Column::Id.eq(cert.id))
            .exec(&txn)
            .await?;
        let res = application::Entity::update_many()
            .col_expr(application::Column::CertificateNumber, Expr::value(number.as_str()))
            .col_expr(application::Column::Version, Expr::value(current.version + 1))
            .col_expr(application::Column::UpdatedAtMs, Expr::value(now_ms))
            .filter(application::Column::Id.eq(id))
            .filter(application::Column::Version.eq(current.version))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            return Err(StoreError::Conflict(id.to_owned()));
        }
        let entry = HistoryEntry {
            from: Some(state),
            to: state,
            actor: actor.to_owned(),
            reason_code: format!("CERTIFICATE_REISSUED_{reason}"),
            note: format!("{} replaced by {number}", cert.number),
        };
        append_history_in(&txn, id, &entry, now_ms).await?;
        txn.commit().await?;
        Ok(Reissued::Done {
            old: cert.number,
            new: number,
        })
    }
}

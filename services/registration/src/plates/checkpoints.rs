//! Signed checkpoints of the log, one per size.

use super::*;

impl Plates {
    /// Signs a checkpoint of the log as it is now (once per size), unless the
    /// key was rotated out from under this replica.
    pub async fn checkpoint(&self) -> Result<crate::store::entities::checkpoint::Model, Error> {
        let (size, root) = {
            let ledger = self.sync(self.db()).await?;
            let size = ledger.size();
            (
                size,
                ledger
                    .tree()
                    .root(size)
                    .ok_or_else(|| internal("tree shorter than itself"))?,
            )
        };
        if let Some(cp) = checkpoint::Entity::find_by_id(size as i64).one(self.db()).await? {
            return Ok(cp);
        }
        self.ensure_signing_key().await?;
        let note = self.keys.current.signer.sign(&Checkpoint {
            origin: self.cfg.log_origin.clone(),
            size,
            root,
        });
        let model = checkpoint::Model {
            size: size as i64,
            root: root.to_vec(),
            note,
            at_ms: crate::now_ms(),
        };
        match checkpoint::ActiveModel::from(model.clone()).insert(self.db()).await {
            Ok(_) => Ok(model),
            // Another replica signed the same size first; both notes are valid, keep theirs.
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                checkpoint::Entity::find_by_id(size as i64)
                    .one(self.db())
                    .await?
                    .ok_or_else(|| internal("checkpoint vanished"))
            }
            Err(e) => Err(e.into()),
        }
    }
}

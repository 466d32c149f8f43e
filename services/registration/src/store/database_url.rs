//! Database URLs as operators and test harnesses handle them: another
//! database on the same server, a fresh one, and a URL fit for a log line.

use sea_orm::{ConnectionTrait, Database, DbErr};

/// `postgres://u@h:p/db?x` with `db` replaced.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| i + scheme_end);
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A database URL without its password, for logs, messages and reports.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// Creates an empty database named `<prefix>_<random>` on the PostgreSQL
/// server `server_url` points at; returns its URL and its name (tests and
/// load runs each get their own).
pub async fn create_fresh(server_url: &str, prefix: &str) -> Result<(String, String), DbErr> {
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(server_url).await?;
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
    admin.close().await.ok();
    Ok((with_database(server_url, &name), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced_and_passwords_hidden() {
        assert_eq!(
            with_database("postgres://p@127.0.0.1:5432/test", "x"),
            "postgres://p@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://p@h/test?sslmode=disable", "x"),
            "postgres://p@h/x?sslmode=disable"
        );
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://…@h:5432/db");
    }
}

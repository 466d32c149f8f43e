//! A caller's rate is one budget over every replica, not one per replica: N
//! replicas must not allow N times the configured rate.

use std::time::Duration;

use vrs_kit::token::Role;

use crate::helpers::{Backend, Client, both_databases, fresh_postgres, list_pc60, spawn_app_keyed, token, with_token};

both_databases!(a_callers_rate_is_shared_by_every_replica);

/// Calls on `c` until one is refused as over the rate; returns how many were
/// admitted before (at most `max`), pausing `pause` between calls.
async fn admitted_until_refused(c: &Client, max: usize, pause: Duration) -> usize {
    for n in 0..max {
        match list_pc60(c).await {
            Ok(()) => {}
            Err(s) if s.code() == tonic::Code::ResourceExhausted => return n,
            Err(s) => panic!("unexpected refusal: {s:?}"),
        }
        tokio::time::sleep(pause).await;
    }
    max
}

/// Two replicas over one database; a clerk spends the whole budget of a
/// window on the first, then calls the second: with the shared count the
/// second replica learns within a sync that the budget is spent (and admits
/// at most the calls made before its first sync); with per-replica limits,
/// the contrast run, it admits a whole budget again.
async fn a_callers_rate_is_shared_by_every_replica(backend: Backend) {
    for shared in [true, false] {
        let keys = tempfile::tempdir().expect("keys");
        let url = match &backend {
            Backend::Sqlite => format!("sqlite://{}?mode=rwc", keys.path().join("shared.db").display()),
            Backend::Postgres(server) => fresh_postgres(server).await,
        };
        let tweak = |cfg: &mut registration::config::Config| {
            cfg.database.url = url.clone();
            // Ten calls per 1,000-second window: the test never sees the
            // budget refill, whatever the machine's speed.
            cfg.auth.staff_rps = 0.01;
            cfg.auth.burst_seconds = 1_000.0;
            cfg.auth.shared_rate_limits = shared;
            cfg.auth.rate_sync_ms = 50;
        };
        let a = spawn_app_keyed(Backend::Sqlite, keys.path(), tweak).await;
        let b = spawn_app_keyed(Backend::Sqlite, keys.path(), tweak).await;
        let clerk = token(&a.issuer, "clerk-077", &[Role::Clerk], Some("PC-60"));

        let on_a = admitted_until_refused(&with_token(&a.channel(), &clerk), 20, Duration::ZERO).await;
        assert_eq!(on_a, 10, "one replica admits the window's budget (shared: {shared})");
        // Slow calls on the second replica: each gives it several syncs to
        // learn the first replica's count.
        let on_b = admitted_until_refused(&with_token(&b.channel(), &clerk), 20, Duration::from_millis(400)).await;
        if shared {
            assert!(
                on_b < 5,
                "the second replica admitted {on_b} calls of a budget the first had spent"
            );
        } else {
            assert_eq!(on_b, 10, "per-replica limits: each replica has its own budget");
        }
        // Another caller is untouched by this one's budget.
        let other = token(&a.issuer, "clerk-078", &[Role::Clerk], Some("PC-60"));
        list_pc60(&with_token(&b.channel(), &other))
            .await
            .expect("another clerk");
        a.shutdown().await;
        b.shutdown().await;
    }
}

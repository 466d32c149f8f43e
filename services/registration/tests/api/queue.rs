//! The clerk's queue: per office, oldest first, state filters, page tokens.

use std::collections::HashSet;

use vrs_kit::world::Case;
use vrs_proto::pb::registration::v1 as pb;

use vrs_kit::token::Role;

use crate::helpers::{Backend, both_databases, dossier, spawn_app_with, violated_fields};

both_databases!(queue_pages_through_one_office);

async fn queue_pages_through_one_office(backend: Backend) {
    // Two offices of the configuration, each serving its province's residents.
    let app = spawn_app_with(backend, |c| {
        c.draw.office_localities.insert("HN-PC08".into(), "30".into());
        c.draw.office_localities.insert("HCM-PC01".into(), "50".into());
    })
    .await;
    let mut mine = Vec::new();
    for n in 0..7 {
        let case = if n % 3 == 0 { Case::FeeUnpaid } else { Case::Clean };
        let mut req = app.sample_in(case, "Hà Nội", n, &dossier("Q", n));
        req.office_code = "HN-PC08".into();
        mine.push(app.submit(req).await.expect("submit").application_id);
    }
    for n in 7..10 {
        let mut req = app.sample_in(Case::Clean, "TP. Hồ Chí Minh", n, &dossier("Q", n));
        req.office_code = "HCM-PC01".into();
        app.submit(req).await.expect("submit");
    }

    // The office's own clerk; a clerk of another office is refused.
    let mut client = app.caller("clerk-017", &[Role::Clerk], Some("HN-PC08"));
    let other = app
        .caller("clerk-099", &[Role::Clerk], Some("HCM-PC01"))
        .list_applications(pb::ListApplicationsRequest {
            office_code: "HN-PC08".into(),
            ..Default::default()
        })
        .await
        .expect_err("another office");
    assert_eq!(other.code(), tonic::Code::PermissionDenied);
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    let mut created = Vec::new();
    loop {
        let page = client
            .list_applications(pb::ListApplicationsRequest {
                office_code: "hn-pc08".into(),
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        pages += 1;
        assert!(page.applications.len() <= 3);
        seen.extend(page.applications.iter().map(|a| a.application_id.clone()));
        created.extend(page.applications.iter().map(|a| a.created_at.clone()));
        assert!(page.applications.iter().all(|a| a.office_code == "HN-PC08"));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "oldest first: {created:?}");
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    let mut sorted_mine = mine.clone();
    sorted_mine.sort();
    assert_eq!(sorted_seen, sorted_mine, "every application of the office exactly once");

    let verified = client
        .list_applications(pb::ListApplicationsRequest {
            office_code: "HN-PC08".into(),
            states: vec![pb::ApplicationState::Verified as i32],
            with_counts: true,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let ids: HashSet<_> = verified
        .applications
        .iter()
        .map(|a| a.application_id.as_str())
        .collect();
    assert_eq!(ids.len(), 4);
    // The counts cover the whole office whatever the filter: 4 verified, the
    // 3 with an unpaid fee awaiting correction; nothing of the other office.
    let counts: Vec<(pb::ApplicationState, u64)> = verified.counts.iter().map(|c| (c.state(), c.count)).collect();
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), 7, "{counts:?}");
    assert!(counts.contains(&(pb::ApplicationState::Verified, 4)), "{counts:?}");
    assert!(
        verified
            .applications
            .iter()
            .all(|a| a.state() == pb::ApplicationState::Verified)
    );
    assert!(
        verified.applications.iter().all(|a| !a.history.is_empty()),
        "history comes with the queue"
    );

    // Bad requests, from a supervisor (who may read any office's queue).
    let mut client = app.supervisor();
    for (req, field) in [
        (
            pb::ListApplicationsRequest {
                office_code: String::new(),
                ..Default::default()
            },
            "office_code",
        ),
        (
            pb::ListApplicationsRequest {
                office_code: "HN-PC08".into(),
                page_token: "garbage".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            pb::ListApplicationsRequest {
                office_code: "HN-PC08".into(),
                page_size: 501,
                ..Default::default()
            },
            "page_size",
        ),
        (
            pb::ListApplicationsRequest {
                office_code: "HN-PC08".into(),
                states: vec![99],
                ..Default::default()
            },
            "states",
        ),
    ] {
        let status = client.list_applications(req).await.expect_err(field);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(violated_fields(&status), [field]);
    }
}

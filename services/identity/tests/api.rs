//! The identity service over real gRPC on loopback: records, evidence, bad keys,
//! outage, health.

use tonic::Code;
use tonic::server::NamedService;
use tonic::transport::Channel;
use vrs_kit::agency::{self, Spawned};
use vrs_kit::evidence::sha256_of;
use vrs_kit::world::Case;
use vrs_proto::pb::identity::v1 as pb;

use pb::identity_service_client::IdentityServiceClient;
use pb::identity_service_server::IdentityServiceServer;

type TestApp = Spawned<IdentityServiceClient<Channel>>;

async fn spawn_app() -> anyhow::Result<TestApp> {
    agency::spawn(identity::build, IdentityServiceClient::new).await
}

fn citizen_request(personal_id: &str) -> pb::GetCitizenRequest {
    pb::GetCitizenRequest {
        personal_id: personal_id.to_string(),
    }
}

#[tokio::test]
async fn known_citizen_is_returned_with_evidence() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let expected = app.world.citizens[0].clone();
    let request = citizen_request(&expected.personal_id);
    let response = app.client.get_citizen(request.clone()).await?.into_inner();
    let citizen = response.citizen.expect("the citizen exists");
    assert_eq!(citizen.personal_id, expected.personal_id);
    assert_eq!(citizen.full_name, expected.full_name);
    assert_eq!(
        citizen.date_of_birth,
        expected.date_of_birth.format("%Y-%m-%d").to_string()
    );
    assert_eq!(citizen.life_status(), pb::LifeStatus::Alive);
    assert_ne!(citizen.gender(), pb::Gender::Unspecified);
    let residence = citizen.residence.expect("a residence");
    assert_eq!(residence.locality_code, expected.residence.locality_code);
    assert_eq!(residence.province, expected.residence.province);
    assert_eq!(residence.address, expected.residence.address);
    assert_eq!(response.request_sha256, sha256_of(&request));
    assert!(response.answered_at.ends_with('Z'), "{}", response.answered_at);
    Ok(())
}

#[tokio::test]
async fn deceased_citizen_is_reported_deceased() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let declared = app.world.declared(app.world.example(Case::DeceasedOwner));
    let id = declared.owner_personal_id.expect("an individual owner");
    let citizen = app.client.get_citizen(citizen_request(&id)).await?.into_inner().citizen;
    assert_eq!(
        citizen.expect("the citizen exists").life_status(),
        pb::LifeStatus::Deceased
    );
    Ok(())
}

#[tokio::test]
async fn unknown_citizen_is_an_answer_without_record() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let declared = app.world.declared(app.world.example(Case::UnknownOwner));
    let request = citizen_request(&declared.owner_personal_id.expect("an individual owner"));
    let response = app.client.get_citizen(request.clone()).await?.into_inner();
    assert!(response.citizen.is_none());
    assert_eq!(response.request_sha256, sha256_of(&request));
    Ok(())
}

#[tokio::test]
async fn ill_formed_keys_are_invalid_arguments() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    for bad in ["", "12345", "0790466783211", "07904667832a"] {
        let status = app.client.get_citizen(citizen_request(bad)).await.expect_err(bad);
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}");
    }
    for bad in ["", "0100109107", "010010910", "0100109106-1"] {
        let request = pb::GetOrganisationRequest {
            tax_code: bad.to_string(),
        };
        let status = app.client.get_organisation(request).await.expect_err(bad);
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}");
    }
    Ok(())
}

#[tokio::test]
async fn organisations_and_branches_are_returned() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let closed = app.world.declared(app.world.example(Case::ClosedOrganisation));
    let branch = app
        .world
        .organisations
        .iter()
        .find(|o| o.tax_code.contains('-'))
        .expect("the world has branches")
        .clone();
    let cases = [
        (
            closed.owner_tax_code.expect("an organisation owner"),
            pb::OrganisationStatus::Closed,
        ),
        (branch.tax_code.clone(), pb::OrganisationStatus::Active),
    ];
    for (tax_code, status) in cases {
        let request = pb::GetOrganisationRequest {
            tax_code: tax_code.clone(),
        };
        let response = app.client.get_organisation(request.clone()).await?.into_inner();
        let organisation = response.organisation.expect("the organisation exists");
        let expected = app.world.organisation(&tax_code).expect("in the world");
        assert_eq!(organisation.tax_code, tax_code);
        assert_eq!(organisation.name, expected.name);
        assert_eq!(organisation.status(), status);
        assert_eq!(
            organisation.seat.map(|s| s.locality_code),
            Some(expected.seat.locality_code.clone())
        );
        assert_eq!(response.request_sha256, sha256_of(&request));
    }
    // Well-formed, valid check digit, not registered.
    let response = app
        .client
        .get_organisation(pb::GetOrganisationRequest {
            tax_code: "0100109106".into(),
        })
        .await?
        .into_inner();
    assert!(response.organisation.is_none());
    Ok(())
}

#[tokio::test]
async fn outage_is_unavailable_until_lifted() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let id = app.world.citizens[1].personal_id.clone();
    app.faults.set_outage(true);
    let status = app.client.get_citizen(citizen_request(&id)).await.expect_err("outage");
    assert_eq!(status.code(), Code::Unavailable);
    app.faults.set_outage(false);
    assert!(
        app.client
            .get_citizen(citizen_request(&id))
            .await?
            .into_inner()
            .citizen
            .is_some()
    );
    Ok(())
}

#[tokio::test]
async fn health_reports_serving() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let name = <IdentityServiceServer<identity::IdentityService> as NamedService>::NAME;
    assert_eq!(name, "vrs.identity.v1.IdentityService");
    agency::ensure_serving(app.server.channel.clone(), name).await
}

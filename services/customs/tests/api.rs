//! The customs service over real gRPC on loopback: records, evidence, bad keys,
//! outage, health.

use tonic::Code;
use tonic::server::NamedService;
use tonic::transport::Channel;
use vrs_kit::agency::{self, Spawned};
use vrs_kit::evidence::sha256_of;
use vrs_kit::world::{Case, Origin, World};
use vrs_proto::pb::customs::v1 as pb;

use pb::customs_service_client::CustomsServiceClient;
use pb::customs_service_server::CustomsServiceServer;

type TestApp = Spawned<CustomsServiceClient<Channel>>;

async fn spawn_app() -> anyhow::Result<TestApp> {
    agency::spawn(customs::build, CustomsServiceClient::new).await
}

fn request(chassis_number: &str) -> pb::GetImportDeclarationRequest {
    pb::GetImportDeclarationRequest {
        chassis_number: chassis_number.to_string(),
    }
}

/// The first vehicle with `case` and `origin`.
fn vehicle_index(world: &World, case: Case, origin: Origin) -> usize {
    world
        .vehicles_with(case)
        .find(|(_, v)| v.origin == origin)
        .map(|(i, _)| i)
        .expect("the world has such a vehicle")
}

#[tokio::test]
async fn an_imported_vehicles_declaration_is_returned() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let i = vehicle_index(&app.world, Case::Clean, Origin::Imported);
    let vehicle = app.world.vehicles[i].clone();
    let declared = app.world.declared(i);
    for key in [
        vehicle.chassis_number.clone(),
        vehicle.chassis_number.to_ascii_lowercase(),
    ] {
        let request = request(&key);
        let response = app.client.get_import_declaration(request.clone()).await?.into_inner();
        let declaration = response.declaration.expect("a declaration");
        assert_eq!(
            Some(declaration.declaration_number),
            declared.customs_declaration_number
        );
        assert_eq!(declaration.chassis_number, vehicle.chassis_number);
        assert_eq!(declaration.engine_number, vehicle.engine_number);
        assert_eq!(declaration.make, vehicle.make);
        assert_eq!(declaration.model, vehicle.model);
        assert_eq!(declaration.year_of_manufacture, vehicle.year_of_manufacture);
        assert_eq!(declaration.seats, vehicle.seats);
        assert_eq!(declaration.vehicle_type, vehicle.class.as_str());
        assert_eq!(declaration.country_of_origin, vehicle.country_of_manufacture);
        assert_eq!(declaration.cleared_on.len(), 10);
        assert!(vrs_kit::world::is_valid_tax_code(&declaration.importer_tax_code));
        assert_eq!(response.request_sha256, sha256_of(&request));
        assert!(response.answered_at.ends_with('Z'));
    }
    Ok(())
}

#[tokio::test]
async fn engine_mismatch_shows_in_the_declaration() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let i = vehicle_index(&app.world, Case::EngineMismatch, Origin::Imported);
    let vehicle = app.world.vehicles[i].clone();
    let declaration = app
        .client
        .get_import_declaration(request(&vehicle.chassis_number))
        .await?
        .into_inner()
        .declaration
        .expect("a declaration");
    assert_ne!(declaration.engine_number, vehicle.engine_number);
    Ok(())
}

#[tokio::test]
async fn domestic_and_unrecorded_vehicles_have_no_declaration() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    for (case, origin) in [
        (Case::Clean, Origin::Domestic),
        (Case::NoOriginRecord, Origin::Imported),
    ] {
        let chassis = app.world.vehicles[vehicle_index(&app.world, case, origin)]
            .chassis_number
            .clone();
        let request = request(&chassis);
        let response = app.client.get_import_declaration(request.clone()).await?.into_inner();
        assert!(response.declaration.is_none(), "{case}");
        assert_eq!(response.request_sha256, sha256_of(&request));
    }
    Ok(())
}

#[tokio::test]
async fn ill_formed_chassis_numbers_are_invalid_arguments() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    for bad in [
        "",
        "ABC12",
        "RLH07KWE5SK74265!",
        "RLH07KWE5SK742656XXXX",
        " RLH07KWE5SK742656",
    ] {
        let status = app.client.get_import_declaration(request(bad)).await.expect_err(bad);
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}");
    }
    Ok(())
}

#[tokio::test]
async fn outage_is_unavailable_until_lifted() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    app.faults.set_outage(true);
    let status = app
        .client
        .get_import_declaration(request("RLH07KWE5SK742656"))
        .await
        .expect_err("outage");
    assert_eq!(status.code(), Code::Unavailable);
    app.faults.set_outage(false);
    app.client.get_import_declaration(request("RLH07KWE5SK742656")).await?;
    Ok(())
}

#[tokio::test]
async fn health_reports_serving() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let name = <CustomsServiceServer<customs::CustomsService> as NamedService>::NAME;
    assert_eq!(name, "vrs.customs.v1.CustomsService");
    agency::ensure_serving(app.server.channel.clone(), name).await
}

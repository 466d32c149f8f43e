//! The Vietnam Register service over real gRPC on loopback: records, evidence,
//! bad keys, outage, health.

use tonic::Code;
use tonic::server::NamedService;
use tonic::transport::Channel;
use vrs_kit::agency::{self, Spawned};
use vrs_kit::evidence::sha256_of;
use vrs_kit::world::{Case, Origin, World};
use vrs_proto::pb::register::v1 as pb;

use pb::vehicle_register_service_client::VehicleRegisterServiceClient;
use pb::vehicle_register_service_server::VehicleRegisterServiceServer;

type TestApp = Spawned<VehicleRegisterServiceClient<Channel>>;

async fn spawn_app() -> anyhow::Result<TestApp> {
    agency::spawn(register::build, VehicleRegisterServiceClient::new).await
}

fn request(chassis_number: &str) -> pb::GetQualityCertificateRequest {
    pb::GetQualityCertificateRequest {
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
async fn a_domestic_vehicles_certificate_is_returned() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let i = vehicle_index(&app.world, Case::Clean, Origin::Domestic);
    let vehicle = app.world.vehicles[i].clone();
    let expected = app.world.quality_certificates[vehicle.quality_certificate.expect("a certificate")].clone();
    for key in [
        vehicle.chassis_number.clone(),
        vehicle.chassis_number.to_ascii_lowercase(),
    ] {
        let request = request(&key);
        let response = app.client.get_quality_certificate(request.clone()).await?.into_inner();
        let certificate = response.certificate.expect("a certificate");
        assert_eq!(certificate.certificate_number, expected.certificate_number);
        assert_eq!(certificate.manufacturer, expected.manufacturer);
        assert_eq!(certificate.chassis_number, vehicle.chassis_number);
        assert_eq!(certificate.engine_number, vehicle.engine_number);
        assert_eq!(certificate.make, vehicle.make);
        assert_eq!(certificate.model, vehicle.model);
        assert_eq!(certificate.year_of_manufacture, vehicle.year_of_manufacture);
        assert_eq!(certificate.seats, vehicle.seats);
        assert_eq!(certificate.vehicle_type, vehicle.class.as_str());
        assert_eq!(certificate.issued_on, expected.issued_on.format("%Y-%m-%d").to_string());
        assert_eq!(response.request_sha256, sha256_of(&request));
        assert!(response.answered_at.ends_with('Z'));
    }
    Ok(())
}

#[tokio::test]
async fn engine_mismatch_shows_in_the_certificate() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let i = vehicle_index(&app.world, Case::EngineMismatch, Origin::Domestic);
    let vehicle = app.world.vehicles[i].clone();
    let certificate = app
        .client
        .get_quality_certificate(request(&vehicle.chassis_number))
        .await?
        .into_inner()
        .certificate
        .expect("a certificate");
    assert_ne!(certificate.engine_number, vehicle.engine_number);
    Ok(())
}

#[tokio::test]
async fn imported_and_unrecorded_vehicles_have_no_certificate() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    for (case, origin) in [
        (Case::Clean, Origin::Imported),
        (Case::NoOriginRecord, Origin::Domestic),
    ] {
        let chassis = app.world.vehicles[vehicle_index(&app.world, case, origin)]
            .chassis_number
            .clone();
        let request = request(&chassis);
        let response = app.client.get_quality_certificate(request.clone()).await?.into_inner();
        assert!(response.certificate.is_none(), "{case}");
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
        let status = app.client.get_quality_certificate(request(bad)).await.expect_err(bad);
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
        .get_quality_certificate(request("RLH07KWE5SK742656"))
        .await
        .expect_err("outage");
    assert_eq!(status.code(), Code::Unavailable);
    app.faults.set_outage(false);
    app.client.get_quality_certificate(request("RLH07KWE5SK742656")).await?;
    Ok(())
}

#[tokio::test]
async fn health_reports_serving() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let name = <VehicleRegisterServiceServer<register::RegisterService> as NamedService>::NAME;
    assert_eq!(name, "vrs.register.v1.VehicleRegisterService");
    agency::ensure_serving(app.server.channel.clone(), name).await
}

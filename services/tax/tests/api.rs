//! The tax service over real gRPC on loopback: records, evidence, bad keys,
//! outage, health.

use tonic::Code;
use tonic::server::NamedService;
use tonic::transport::Channel;
use vrs_kit::agency::{self, Spawned};
use vrs_kit::evidence::sha256_of;
use vrs_kit::world::Case;
use vrs_proto::pb::tax::v1 as pb;

use pb::tax_service_client::TaxServiceClient;
use pb::tax_service_server::TaxServiceServer;

type TestApp = Spawned<TaxServiceClient<Channel>>;

async fn spawn_app() -> anyhow::Result<TestApp> {
    agency::spawn(tax::build, TaxServiceClient::new).await
}

fn request(payer_id: &str) -> pb::ListRegistrationFeesRequest {
    pb::ListRegistrationFeesRequest {
        payer_id: payer_id.to_string(),
    }
}

#[tokio::test]
async fn a_payers_records_include_the_vehicles_fee() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let vehicle = &app.world.vehicles[app.world.example(Case::Clean)];
    let expected = app.world.fee_record_of(vehicle).clone();
    let payer = app
        .world
        .declared(app.world.example(Case::Clean))
        .owner_personal_id
        .expect("an individual");
    let request = request(&payer);
    let response = app.client.list_registration_fees(request.clone()).await?.into_inner();
    assert_eq!(response.records.len(), app.world.fee_records_of(&payer).count());
    let record = response
        .records
        .iter()
        .find(|r| r.chassis_number == vehicle.chassis_number)
        .expect("a record for the vehicle");
    assert_eq!(record.dossier_code, expected.dossier_code);
    assert_eq!(record.payer_id, payer);
    assert_eq!(record.payer_name, expected.payer_name);
    assert_eq!(record.vehicle_type, vehicle.class.as_str());
    assert_eq!(record.brand, vehicle.make);
    assert_eq!(record.model, vehicle.model);
    assert_eq!(record.engine_number, vehicle.engine_number);
    assert_eq!(record.capacity_cc, vehicle.capacity_cc);
    assert_eq!(record.seats, vehicle.seats);
    assert_eq!(record.year_of_manufacture, vehicle.year_of_manufacture);
    assert_eq!(record.taxable_value_vnd, expected.taxable_value_vnd);
    assert_eq!(record.rate_permille, expected.rate_permille);
    assert_eq!(record.fee_due_vnd, expected.fee_due_vnd);
    assert_eq!(record.fee_paid_vnd, record.fee_due_vnd);
    assert_eq!(record.status(), pb::PaymentStatus::Paid);
    assert_eq!(record.payment_date.len(), 10, "{}", record.payment_date);
    assert_eq!(response.request_sha256, sha256_of(&request));
    assert!(response.answered_at.ends_with('Z'));
    Ok(())
}

#[tokio::test]
async fn unpaid_and_mistyped_records_are_visible() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let i = app.world.example(Case::FeeUnpaid);
    let payer = app.world.declared(i).owner_personal_id.expect("an individual");
    let chassis = app.world.vehicles[i].chassis_number.clone();
    let records = app
        .client
        .list_registration_fees(request(&payer))
        .await?
        .into_inner()
        .records;
    let record = records
        .iter()
        .find(|r| r.chassis_number == chassis)
        .expect("a record for the vehicle");
    assert_eq!(record.status(), pb::PaymentStatus::Unpaid);
    assert!(record.payment_date.is_empty());
    assert!(record.fee_paid_vnd < record.fee_due_vnd);

    let i = app.world.example(Case::VinMismatch);
    let payer = app.world.declared(i).owner_personal_id.expect("an individual");
    let chassis = app.world.vehicles[i].chassis_number.clone();
    let records = app
        .client
        .list_registration_fees(request(&payer))
        .await?
        .into_inner()
        .records;
    assert!(!records.is_empty());
    assert!(records.iter().all(|r| r.chassis_number != chassis));
    Ok(())
}

#[tokio::test]
async fn organisations_pay_under_their_tax_code() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let payer = app
        .world
        .declared(app.world.example(Case::Organisation))
        .owner_tax_code
        .expect("an organisation");
    let records = app
        .client
        .list_registration_fees(request(&payer))
        .await?
        .into_inner()
        .records;
    assert!(!records.is_empty());
    assert!(records.iter().all(|r| r.payer_id == payer));
    Ok(())
}

#[tokio::test]
async fn unknown_payer_has_no_records() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    // Province code 099 does not exist, so no personal ID starts with it.
    let request = request("099000000000");
    let response = app.client.list_registration_fees(request.clone()).await?.into_inner();
    assert!(response.records.is_empty());
    assert_eq!(response.request_sha256, sha256_of(&request));
    Ok(())
}

#[tokio::test]
async fn ill_formed_payer_ids_are_invalid_arguments() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    for bad in ["", "12345", "0100109107", "abcdefghijkl", "0100109106-01"] {
        let status = app.client.list_registration_fees(request(bad)).await.expect_err(bad);
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
        .list_registration_fees(request("099000000000"))
        .await
        .expect_err("outage");
    assert_eq!(status.code(), Code::Unavailable);
    app.faults.set_outage(false);
    app.client.list_registration_fees(request("099000000000")).await?;
    Ok(())
}

#[tokio::test]
async fn health_reports_serving() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let name = <TaxServiceServer<tax::TaxService> as NamedService>::NAME;
    assert_eq!(name, "vrs.tax.v1.TaxService");
    agency::ensure_serving(app.server.channel.clone(), name).await
}

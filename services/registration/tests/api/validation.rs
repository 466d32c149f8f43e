//! Bad input: INVALID_ARGUMENT with one BadRequest field violation per bad
//! field, and the database exactly as it was.

use vrs_kit::world::Case;
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, TestApp, both_databases, spawn_app, violated_fields};

both_databases!(
    bad_inputs_name_their_field_and_change_nothing,
    oversized_requests_are_refused,
    malformed_bytes_are_invalid_and_unknown_fields_are_skipped
);

type Mutation = (&'static str, &'static str, fn(&mut pb::SubmitApplicationRequest));

fn individual(r: &mut pb::SubmitApplicationRequest) -> &mut pb::Individual {
    match r.owner.as_mut().and_then(|o| o.kind.as_mut()) {
        Some(pb::owner::Kind::Individual(i)) => i,
        _ => panic!("sample owner is an individual"),
    }
}

fn vehicle(r: &mut pb::SubmitApplicationRequest) -> &mut pb::Vehicle {
    r.vehicle.as_mut().expect("sample vehicle")
}

fn organisation(r: &mut pb::SubmitApplicationRequest) {
    r.owner = Some(pb::Owner {
        kind: Some(pb::owner::Kind::Organisation(pb::Organisation {
            tax_code: "0100109106".into(),
            name: "Công ty TNHH Vận tải Minh Phát".into(),
        })),
    });
}

/// Each entry: a name, the field that must be named, and the one change that breaks it.
const BAD: &[Mutation] = &[
    ("empty dossier code", "dossier_code", |r| r.dossier_code.clear()),
    ("short dossier code", "dossier_code", |r| r.dossier_code = "AB1".into()),
    ("dossier code with a space", "dossier_code", |r| {
        r.dossier_code = "G01 000001".into()
    }),
    ("lower-case dossier code", "dossier_code", |r| {
        r.dossier_code = "g01.000001".into()
    }),
    ("full name with a line break", "owner.individual.full_name", |r| {
        individual(r).full_name = "Nguyễn Văn\nAn".into()
    }),
    ("full name with a tab", "owner.individual.full_name", |r| {
        individual(r).full_name = "Nguyễn\tVăn An".into()
    }),
    ("no owner", "owner", |r| r.owner = None),
    ("owner without kind", "owner", |r| {
        r.owner = Some(pb::Owner { kind: None })
    }),
    ("personal ID too short", "owner.individual.personal_id", |r| {
        individual(r).personal_id = "00109001234".into()
    }),
    ("personal ID with a letter", "owner.individual.personal_id", |r| {
        individual(r).personal_id = "00109001234X".into()
    }),
    ("birth province 000", "owner.individual.personal_id", |r| {
        individual(r).personal_id = "000090012345".into()
    }),
    ("birth province 097", "owner.individual.personal_id", |r| {
        individual(r).personal_id = "097090012345".into()
    }),
    ("born in the future", "owner.individual.personal_id", |r| {
        individual(r).personal_id = "001299012345".into()
    }),
    ("owner under 15 by ID", "owner.individual.personal_id", |r| {
        individual(r).personal_id = "001222012345".into()
    }),
    ("empty name", "owner.individual.full_name", |r| {
        individual(r).full_name = "   ".into()
    }),
    ("name with digits", "owner.individual.full_name", |r| {
        individual(r).full_name = "Nguyễn Văn 4n".into()
    }),
    ("tax code check digit", "owner.organisation.tax_code", |r| {
        organisation(r);
        if let Some(pb::owner::Kind::Organisation(o)) = r.owner.as_mut().and_then(|o| o.kind.as_mut()) {
            o.tax_code = "0100109107".into();
        }
    }),
    ("tax code too short", "owner.organisation.tax_code", |r| {
        organisation(r);
        if let Some(pb::owner::Kind::Organisation(o)) = r.owner.as_mut().and_then(|o| o.kind.as_mut()) {
            o.tax_code = "01001091".into();
        }
    }),
    ("no vehicle", "vehicle", |r| r.vehicle = None),
    ("vehicle class unspecified", "vehicle.vehicle_class", |r| {
        vehicle(r).vehicle_class = 0
    }),
    ("vehicle class unknown", "vehicle.vehicle_class", |r| {
        vehicle(r).vehicle_class = 42
    }),
    ("origin unspecified", "vehicle.origin", |r| vehicle(r).origin = 0),
    ("car VIN of 16 characters", "vehicle.chassis_number", |r| {
        let v = vehicle(r);
        v.vehicle_class = pb::VehicleClass::Car as i32;
        v.chassis_number = "1HGCM82633A00435".into();
    }),
    ("car VIN with O", "vehicle.chassis_number", |r| {
        let v = vehicle(r);
        v.vehicle_class = pb::VehicleClass::Car as i32;
        v.chassis_number = "1HGCM82633AO04352".into();
    }),
    ("chassis with punctuation", "vehicle.chassis_number", |r| {
        vehicle(r).chassis_number = "1HGCM8263#A004352".into()
    }),
    ("engine number only dashes", "vehicle.engine_number", |r| {
        vehicle(r).engine_number = "-- --".into()
    }),
    ("engine number too long", "vehicle.engine_number", |r| {
        vehicle(r).engine_number = "A".repeat(40)
    }),
    (
        "imported without customs declaration",
        "vehicle.customs_declaration_number",
        |r| {
            let v = vehicle(r);
            v.origin = pb::VehicleOrigin::Imported as i32;
            v.customs_declaration_number.clear();
        },
    ),
    (
        "customs declaration not 12 digits",
        "vehicle.customs_declaration_number",
        |r| {
            let v = vehicle(r);
            v.origin = pb::VehicleOrigin::Imported as i32;
            v.customs_declaration_number = "10400000X001".into();
        },
    ),
    ("no seats", "vehicle.seats", |r| vehicle(r).seats = 0),
    ("too many seats", "vehicle.seats", |r| vehicle(r).seats = 500),
    ("empty make", "vehicle.make", |r| vehicle(r).make.clear()),
    ("empty office", "office_code", |r| r.office_code.clear()),
    ("unused locality code 10", "locality_code", |r| {
        r.locality_code = "10".into()
    }),
    ("locality code not digits", "locality_code", |r| {
        r.locality_code = "3A".into()
    }),
];

async fn snapshot(app: &TestApp, id: &str) -> (u64, u64, pb::Application) {
    let store = app.registry.store();
    (
        store.count().await.expect("count"),
        store.count_history().await.expect("count"),
        app.get(id).await,
    )
}

async fn bad_inputs_name_their_field_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    // One good application already accepted; nothing below may touch it.
    let good = app
        .submit(app.sample(Case::Clean, 0, "G01.000001"))
        .await
        .expect("submit");
    let before = snapshot(&app, &good.application_id).await;

    assert!(BAD.len() >= 20);
    for (i, (what, field, mutate)) in BAD.iter().enumerate() {
        let mut req = app.sample(Case::Clean, 1, &format!("BAD.{i:06}"));
        mutate(&mut req);
        let status = app.submit(req).await.expect_err(what);
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{what}: {status:?}");
        let fields = violated_fields(&status);
        assert_eq!(fields, [*field], "{what}: {:?}", status.message());
    }

    // Many bad fields at once: each is named.
    let mut req = app.sample(Case::Clean, 1, "");
    individual(&mut req).personal_id = "1".into();
    vehicle(&mut req).seats = 0;
    req.locality_code = "99x".into();
    let status = app.submit(req).await.expect_err("many");
    let fields = violated_fields(&status);
    for f in [
        "dossier_code",
        "owner.individual.personal_id",
        "vehicle.seats",
        "locality_code",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }

    // A bad resubmission of the good dossier is refused too, and leaves it alone.
    let mut req = app.sample(Case::Clean, 0, "G01.000001");
    vehicle(&mut req).engine_number.clear();
    assert_eq!(
        app.submit(req).await.expect_err("bad retry").code(),
        tonic::Code::InvalidArgument
    );

    assert_eq!(
        snapshot(&app, &good.application_id).await,
        before,
        "database changed by refused requests"
    );
}

async fn oversized_requests_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut req = app.sample(Case::Clean, 0, "G01.000009");
    individual(&mut req).full_name = "A".repeat(200 * 1024);
    let status = app.submit(req).await.expect_err("oversized");
    // RESOURCE_EXHAUSTED, as the README promises, with the limit stated.
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
    assert_eq!(app.registry.store().count().await.expect("count"), 0);
    // The service is unaffected: the next normal call works.
    let ok = app
        .submit(app.sample(Case::Clean, 0, "G01.000010"))
        .await
        .expect("normal call");
    assert_eq!(ok.state(), pb::ApplicationState::Verified);
}

/// Sends raw bytes as a SubmitApplication request, as a broken or hostile client would.
#[derive(Default)]
struct Raw;

struct RawEncoder;

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        prost::bytes::BufMut::put_slice(buf, &item);
        Ok(())
    }
}

impl tonic::codec::Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = pb::Application;
    type Encoder = RawEncoder;
    type Decoder = tonic_prost::ProstDecoder<pb::Application>;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

async fn submit_raw(
    app: &TestApp,
    bytes: Vec<u8>,
    owner: &Option<pb::Owner>,
) -> Result<pb::Application, tonic::Status> {
    let portal = app.pki.issue("portal").expect("portal certificate");
    let channel = crate::helpers::tls_channel(app.addr, &portal).await;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static("/vrs.registration.v1.RegistrationService/SubmitApplication");
    grpc.unary(crate::helpers::for_owner(bytes, owner), path, Raw)
        .await
        .map(|r| r.into_inner())
}

async fn malformed_bytes_are_invalid_and_unknown_fields_are_skipped(backend: Backend) {
    use prost::Message;
    let app = spawn_app(backend).await;
    // Bytes that are not a protobuf message: the caller's fault, INVALID_ARGUMENT.
    let owner = app.sample(Case::Clean, 0, "G01.000011").owner;
    let garbage = submit_raw(&app, vec![0xff; 64], &owner).await.expect_err("garbage");
    assert_eq!(garbage.code(), tonic::Code::InvalidArgument, "{garbage:?}");
    assert!(garbage.message().contains("malformed"), "{}", garbage.message());
    let truncated = app.sample(Case::Clean, 0, "G01.000011").encode_to_vec();
    let cut = submit_raw(&app, truncated[..truncated.len() - 3].to_vec(), &owner)
        .await
        .expect_err("truncated");
    assert_eq!(cut.code(), tonic::Code::InvalidArgument);
    assert_eq!(app.registry.store().count().await.expect("count"), 0);

    // 60 KiB of a field this version does not know (a newer portal's, say): skipped,
    // and the application is exactly what the known fields say.
    let mut padded = app.sample(Case::Clean, 0, "G01.000012").encode_to_vec();
    let unknown = vec![b'x'; 60 * 1024];
    prost::encoding::encode_key(999, prost::encoding::WireType::LengthDelimited, &mut padded);
    prost::encoding::encode_varint(unknown.len() as u64, &mut padded);
    padded.extend_from_slice(&unknown);
    let (skipped, other) = tokio::join!(
        submit_raw(&app, padded, &owner),
        app.submit(app.sample(Case::Clean, 1, "G01.000013"))
    );
    let skipped = skipped.expect("unknown fields skipped");
    assert_eq!(skipped.state(), pb::ApplicationState::Verified);
    assert_eq!(skipped.dossier_code, "G01.000012");
    assert_eq!(other.expect("another caller").state(), pb::ApplicationState::Verified);
    assert_eq!(app.registry.store().count().await.expect("count"), 2);
}

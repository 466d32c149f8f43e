//! Applications and declarations as the text the commands print.

use vrs_proto::pb::registration::v1 as pb;

pub(crate) fn state_name(s: pb::ApplicationState) -> &'static str {
    s.as_str_name().trim_start_matches("APPLICATION_STATE_")
}

fn describe_owner(owner: &Option<pb::Owner>) -> String {
    match owner.as_ref().and_then(|o| o.kind.as_ref()) {
        Some(pb::owner::Kind::Individual(i)) => format!(
            "individual {} {}{}",
            i.personal_id,
            i.full_name,
            if i.guardian_consent { " (guardian consent)" } else { "" }
        ),
        Some(pb::owner::Kind::Organisation(o)) => format!("organisation {} {}", o.tax_code, o.name),
        None => "-".into(),
    }
}

fn describe_vehicle(v: &Option<pb::Vehicle>) -> String {
    match v {
        Some(v) => format!(
            "{} {} {} {} seats, {} chassis {} engine {}{}",
            state_like(v.vehicle_class().as_str_name(), "VEHICLE_CLASS_"),
            v.make,
            v.model,
            v.seats,
            state_like(v.origin().as_str_name(), "VEHICLE_ORIGIN_"),
            v.chassis_number,
            v.engine_number,
            if v.customs_declaration_number.is_empty() {
                String::new()
            } else {
                format!(" customs {}", v.customs_declaration_number)
            }
        ),
        None => "-".into(),
    }
}

fn state_like(name: &'static str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_ascii_lowercase()
}

pub(crate) fn describe_request(r: &pb::SubmitApplicationRequest) -> String {
    format!(
        "dossier   {}\nowner     {}\nvehicle   {}\noffice    {} (locality {})\n",
        r.dossier_code,
        describe_owner(&r.owner),
        describe_vehicle(&r.vehicle),
        r.office_code,
        r.locality_code
    )
}

pub(crate) fn describe(a: &pb::Application) -> String {
    let mut s = format!(
        "application {}\ndossier     {}\nstate       {}\nowner       {}\nvehicle     {}\noffice      {} (locality {})\ncreated     {}  updated {}  lookup attempts {}\n",
        a.application_id,
        a.dossier_code,
        state_name(a.state()),
        describe_owner(&a.owner),
        describe_vehicle(&a.vehicle),
        a.office_code,
        a.locality_code,
        a.created_at,
        a.updated_at,
        a.attempts
    );
    if !a.plate.is_empty() {
        s.push_str(&format!("plate       {}\n", a.plate));
    }
    if a.fee_due_vnd > 0 {
        s.push_str(&format!("fee due     {} VND ({})\n", a.fee_due_vnd, a.fee_legal_source));
    }
    if a.physical_check_required || !a.physical_checks.is_empty() {
        let last = a.physical_checks.last();
        let summary = match last {
            None => "required before approval, not yet done".to_owned(),
            Some(c) => format!(
                "chassis {}, engine {} (by {} at {})",
                if c.chassis_matches { "matches" } else { "MISMATCH" },
                if c.engine_matches { "matches" } else { "MISMATCH" },
                c.actor,
                c.at
            ),
        };
        s.push_str(&format!("phys. check {summary}\n"));
    }
    if !a.blocked_reason.is_empty() {
        s.push_str(&format!("BLOCKED     {}\n", a.blocked_reason));
    }
    if !a.certificate_number.is_empty() {
        s.push_str(&format!("certificate {}\n", a.certificate_number));
    }
    for r in &a.reasons {
        s.push_str(&format!("reason      {} [{}] {}\n", r.code, r.field, r.message));
    }
    for w in &a.warnings {
        s.push_str(&format!("warning     {} [{}] {}\n", w.code, w.field, w.message));
    }
    for e in &a.evidence {
        s.push_str(&format!(
            "evidence    {:<9} {:<9} request {} response {} at {}\n",
            e.agency,
            e.outcome,
            &e.request_sha256.get(..16).unwrap_or(""),
            &e.response_sha256.get(..16).unwrap_or(""),
            e.fetched_at
        ));
    }
    s.push_str("history\n");
    for h in &a.history {
        s.push_str(&format!(
            "  {}  {:>16} → {:<16} by {}{}{}\n",
            h.at,
            if h.from_state() == pb::ApplicationState::Unspecified {
                "(new)"
            } else {
                state_name(h.from_state())
            },
            state_name(h.to_state()),
            h.actor,
            if h.reason_code.is_empty() {
                String::new()
            } else {
                format!(" ({})", h.reason_code)
            },
            if h.note.is_empty() {
                String::new()
            } else {
                format!(": {}", h.note)
            }
        ));
    }
    s
}

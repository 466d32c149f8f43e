//! `vrsctl audit`: replays a registry's whole log through its public API.
//!
//! Fetches the latest checkpoint and checks its signature against the pinned
//! log key, or the key the log's rotations lead to from it (draw spec §6.4;
//! the registry publishes the handovers with its trust); if a state file
//! holds an earlier audited checkpoint, checks the consistency proof between
//! them (the log only grew); fetches every entry,
//! recomputes the tree and compares the root; replays every pool change and
//! draw (vrs_draw::audit) with beacon rounds checked against pinned keys; and
//! reports each finding with the entry it names. Exit status 1 on any finding.

use tonic::transport::Channel;
use vrs_draw::merkle::{Hash, verify_consistency};
use vrs_draw::receipt::{Rotation, Trust, follow_rotations};
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

use crate::client::call;
use crate::output::outln;

/// A log export: a signed checkpoint and every entry up to its size.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Export {
    pub checkpoint: String,
    /// Base64 entry bytes, in log order.
    pub entries: Vec<String>,
    /// The handover checkpoints of the log key's rotations: an auditor pinned
    /// to an earlier key follows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handovers: Vec<String>,
}

/// The log key's rotations as the registry publishes them with its trust.
async fn rotations(log: &mut TransparencyLogServiceClient<Channel>) -> anyhow::Result<Vec<Rotation>> {
    let json = call(log.get_trust(pb::GetTrustRequest {}).await)?.rotations_json;
    if json.is_empty() {
        return Ok(Vec::new());
    }
    Ok(serde_json::from_str(&json)?)
}

/// Writes the registry's log (up to its latest checkpoint) to a file.
pub async fn export(mut log: TransparencyLogServiceClient<Channel>, out: &str) -> anyhow::Result<()> {
    use base64::Engine;
    let cp = call(log.get_checkpoint(pb::GetCheckpointRequest {}).await)?;
    let mut entries = Vec::with_capacity(cp.size as usize);
    while (entries.len() as u64) < cp.size {
        let start = entries.len() as u64;
        let page = call(
            log.get_entries(pb::GetEntriesRequest {
                start,
                end: (start + 10_000).min(cp.size),
            })
            .await,
        )?;
        anyhow::ensure!(!page.entries.is_empty(), "entries from {start} missing");
        entries.extend(
            page.entries
                .iter()
                .map(|e| base64::engine::general_purpose::STANDARD.encode(&e.entry)),
        );
    }
    std::fs::write(
        out,
        serde_json::to_string(&Export {
            checkpoint: cp.note,
            entries,
            handovers: rotations(&mut log).await?.into_iter().map(|r| r.checkpoint).collect(),
        })?,
    )?;
    outln!(
        "exported {} entries under checkpoint of size {} to {out}",
        cp.size,
        cp.size
    );
    Ok(())
}

/// Audits a log export offline against a pinned trust file.
pub fn run_offline(export_file: &str, trust_file: &str, grace_seconds: i64) -> anyhow::Result<()> {
    use base64::Engine;
    let trust: Trust = serde_json::from_str(&std::fs::read_to_string(trust_file)?)?;
    let export: Export = serde_json::from_str(&std::fs::read_to_string(export_file)?)?;
    let entries = export
        .entries
        .iter()
        .map(|e| base64::engine::general_purpose::STANDARD.decode(e))
        .collect::<Result<Vec<_>, _>>()?;
    report(
        &trust,
        &export.checkpoint,
        &export.handovers,
        entries.into_iter(),
        grace_seconds,
        None,
        Vec::new(),
    )
}

pub async fn run(
    mut log: TransparencyLogServiceClient<Channel>,
    trust_file: Option<&str>,
    state_file: Option<&str>,
    grace_seconds: i64,
) -> anyhow::Result<()> {
    let trust: Trust = match trust_file {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)?,
        None => {
            outln!("note: no --trust given; using the registry's own keys (pin them for a real audit)");
            serde_json::from_str(&call(log.get_trust(pb::GetTrustRequest {}).await)?.json)?
        }
    };
    let cp = call(log.get_checkpoint(pb::GetCheckpointRequest {}).await)?;
    let rotations = rotations(&mut log).await?;
    let key = follow_rotations(&trust, &rotations).map_err(|e| anyhow::anyhow!("the log key's rotations: {e}"))?;
    if key.followed > 0 {
        outln!(
            "the pinned log key was rotated: following {} rotation(s) to {}",
            key.followed,
            key.key
        );
    }
    let handovers: Vec<String> = rotations.into_iter().map(|r| r.checkpoint).collect();
    let opened = key
        .verifier
        .open(&cp.note)
        .map_err(|e| anyhow::anyhow!("checkpoint: {e}"))?;
    anyhow::ensure!(
        opened.origin == trust.log_origin,
        "checkpoint origin {:?} is not the pinned one",
        opened.origin
    );
    let size = opened.size;
    let mut findings: Vec<String> = Vec::new();

    if let Some(path) = state_file
        && let Ok(text) = std::fs::read_to_string(path)
    {
        let prev: serde_json::Value = serde_json::from_str(&text)?;
        let prev_size = prev["size"].as_u64().unwrap_or(0);
        let prev_root: Hash = hex::decode(prev["root"].as_str().unwrap_or(""))?
            .try_into()
            .map_err(|_| anyhow::anyhow!("bad root in {path}"))?;
        if prev_size > size {
            findings.push(format!("log shrank from {prev_size} to {size} entries"));
        } else if prev_size > 0 {
            let proof = call(
                log.get_consistency_proof(pb::GetConsistencyProofRequest {
                    first: prev_size,
                    second: size,
                })
                .await,
            )?;
            let proof: Vec<Hash> = proof
                .hashes
                .iter()
                .filter_map(|h| h.as_slice().try_into().ok())
                .collect();
            if verify_consistency(prev_size, size, &prev_root, &opened.root, &proof) {
                outln!("consistent with the audited checkpoint of size {prev_size}");
            } else {
                findings.push(format!(
                    "checkpoint of size {size} is not an extension of the audited size {prev_size}: history rewritten"
                ));
            }
        }
    }

    let mut entries = Vec::with_capacity(size as usize);
    while (entries.len() as u64) < size {
        let start = entries.len() as u64;
        let page = call(
            log.get_entries(pb::GetEntriesRequest {
                start,
                end: (start + 10_000).min(size),
            })
            .await,
        )?;
        if page.entries.is_empty() {
            findings.push(format!("entries {start}..{size} missing"));
            break;
        }
        for e in page.entries {
            if e.index != entries.len() as u64 {
                findings.push(format!(
                    "entry {}: served out of order (expected {})",
                    e.index,
                    entries.len()
                ));
            }
            entries.push(e.entry);
        }
    }
    report(
        &trust,
        &cp.note,
        &handovers,
        entries.into_iter(),
        grace_seconds,
        state_file,
        findings,
    )
}

/// Replays entries under a signed checkpoint and prints the findings.
fn report(
    trust: &Trust,
    note: &str,
    handovers: &[String],
    entries: impl Iterator<Item = Vec<u8>>,
    grace_seconds: i64,
    state_file: Option<&str>,
    mut findings: Vec<String>,
) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let started = std::time::Instant::now();
    let report = vrs_draw::audit::replay_holding(trust, note, handovers, entries, now, grace_seconds * 1000)
        .map_err(anyhow::Error::msg)?;
    findings.extend(report.findings);
    outln!(
        "audited {} entries ({} pools, {} draws) in {:.2}s; checkpoint signature verified",
        report.size,
        report.pools,
        report.draws,
        started.elapsed().as_secs_f64()
    );
    if findings.is_empty() {
        outln!("no findings: every draw follows from its commit, the beacon and the pool");
        if let Some(path) = state_file {
            let state = serde_json::json!({ "size": report.size, "root": hex::encode(report.root) });
            std::fs::write(path, serde_json::to_string_pretty(&state)?)?;
        }
        Ok(())
    } else {
        for f in &findings {
            outln!("FINDING {f}");
        }
        anyhow::bail!("{} finding(s)", findings.len())
    }
}

//! `vrsctl sample`: a declaration from the seeded data set, the kind a citizen
//! would file. `submit --sample` starts from the same declarations.

use vrs_kit::world::{Case, World};
use vrs_proto::pb::registration::v1 as pb;

use crate::describe::describe_request;
use crate::output::out;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Which deliberate case of the data set.
    #[arg(long, value_enum, default_value = "clean")]
    case: CaseArg,
    /// Which example of that case (0 = first).
    #[arg(long, default_value_t = 0)]
    nth: usize,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum CaseArg {
    Clean,
    FeeUnpaid,
    VinMismatch,
    EngineMismatch,
    NameMismatch,
    MinorOwner,
    DeceasedOwner,
    UnknownOwner,
    NoOriginRecord,
    Organisation,
    ClosedOrganisation,
    /// Declared under another province's locality code than the owner's residence.
    LocalityElsewhere,
    /// Filed at an office of another province.
    OfficeElsewhere,
}

impl From<CaseArg> for Case {
    fn from(c: CaseArg) -> Case {
        match c {
            CaseArg::Clean => Case::Clean,
            CaseArg::FeeUnpaid => Case::FeeUnpaid,
            CaseArg::VinMismatch => Case::VinMismatch,
            CaseArg::EngineMismatch => Case::EngineMismatch,
            CaseArg::NameMismatch => Case::NameMismatch,
            CaseArg::MinorOwner => Case::MinorOwner,
            CaseArg::DeceasedOwner => Case::DeceasedOwner,
            CaseArg::UnknownOwner => Case::UnknownOwner,
            CaseArg::NoOriginRecord => Case::NoOriginRecord,
            CaseArg::Organisation => Case::Organisation,
            CaseArg::ClosedOrganisation => Case::ClosedOrganisation,
            CaseArg::LocalityElsewhere => Case::LocalityElsewhere,
            CaseArg::OfficeElsewhere => Case::OfficeElsewhere,
        }
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let req = declaration(args.case, args.nth, "SAMPLE.000001")?;
    out!("{}", describe_request(&req));
    Ok(())
}

/// The `nth` declaration of a case, filed under `dossier`.
pub(crate) fn declaration(case: CaseArg, nth: usize, dossier: &str) -> anyhow::Result<pb::SubmitApplicationRequest> {
    let world = World::standard();
    let case = Case::from(case);
    let (index, _) = world
        .vehicles_with(case)
        .nth(nth)
        .ok_or_else(|| anyhow::anyhow!("the data set has fewer than {} examples of {case}", nth + 1))?;
    Ok(vrs_kit::samples::submit_request(&world, index, dossier))
}
